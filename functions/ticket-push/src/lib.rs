//! The `ticket-push` function's handler. `main.rs` builds dependencies once and hands every request
//! here, so tests and `wxopen-local` call the very code Lambda runs.

use lambda_http::{Body, Error, Request, Response};

/// Not implemented yet: answers 501 with a JSON body, never a fake success.
pub async fn handler(_req: Request) -> Result<Response<Body>, Error> {
    Ok(wxopen::http::not_implemented("ticket-push"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn until_implemented_it_answers_501_json() {
        let resp = handler(Request::default()).await.unwrap();
        assert_eq!(resp.status(), 501);
        assert_eq!(resp.headers()["content-type"], "application/json");
    }
}
