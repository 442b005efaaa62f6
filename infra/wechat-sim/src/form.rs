//! A multipart/form-data body as the handlers read it: parsed once by the dispatcher, before
//! the handler (which holds the state's lock and cannot wait), with multer, the parser axum's
//! own `Multipart` extractor uses.

use axum::body::Bytes;

/// One part: its form field name, its Content-Type when it gave one, its bytes.
pub(crate) struct FormPart {
    pub(crate) name: String,
    pub(crate) content_type: Option<String>,
    pub(crate) data: Bytes,
}

/// Every part of one multipart/form-data body, in order.
pub(crate) struct Form(Vec<FormPart>);

impl Form {
    /// The parts of `body` when `content_type` is multipart/form-data with a boundary and the
    /// body parses; `None` otherwise (the handler answers WeChat's errcode for a missing part).
    pub(crate) async fn parse(content_type: &str, body: &Bytes) -> Option<Form> {
        let boundary = multer::parse_boundary(content_type).ok()?;
        let body = body.clone();
        let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
        let mut multipart = multer::Multipart::new(stream, boundary);
        let mut parts = Vec::new();
        while let Some(field) = multipart.next_field().await.ok()? {
            let name = field.name().unwrap_or_default().to_owned();
            let content_type = field.content_type().map(|m| m.essence_str().to_owned());
            let data = field.bytes().await.ok()?;
            parts.push(FormPart {
                name,
                content_type,
                data,
            });
        }
        Some(Form(parts))
    }

    /// The first part named `name`.
    pub(crate) fn part(&self, name: &str) -> Option<&FormPart> {
        self.0.iter().find(|p| p.name == name)
    }

    /// The text of the part named `name`, trimmed.
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        self.part(name)
            .map(|p| String::from_utf8_lossy(&p.data).trim().to_owned())
    }
}
