//! The images the code endpoints answer: `/wxa/get_qrcode` a QR-looking grayscale JPEG
//! (get_qrcode.html documents image/jpeg), `/wxa/getwxacodeunlimit` the same modules as a PNG
//! (getUnlimitedQRCode answers the image's buffer, a PNG: its `is_hyaline` transparent
//! background is a PNG's alpha;
//! <https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/qrcode-link/qr-code/getUnlimitedQRCode.html>).
//! Both depend on what was asked. Not scannable codes.

const MODULES: usize = 25;
const SCALE: usize = 4;
const BORDER: usize = 2;

/// A valid baseline JPEG (8-bit grayscale) for `seed`.
pub fn qr_like_jpeg(seed: &str) -> Vec<u8> {
    let (side, pixels) = qr_like_pixels(seed);
    let mut out = Vec::new();
    let side = side as u16;
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(&pixels, side, side, jpeg_encoder::ColorType::Luma)
        .expect("a grayscale image of the declared size encodes");
    out
}

/// A valid PNG (8-bit grayscale) of the same modules for `seed`.
pub fn qr_like_png(seed: &str) -> Vec<u8> {
    let (side, pixels) = qr_like_pixels(seed);
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .and_then(|mut w| w.write_image_data(&pixels))
        .expect("a grayscale image of the declared size encodes");
    out
}

/// How a code is drawn: `line` the modules' colour (`line_color`, black when `None`),
/// `hyaline` a transparent background (`is_hyaline`): either makes an RGBA PNG.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CodeStyle {
    pub line: Option<(u8, u8, u8)>,
    pub hyaline: bool,
}

/// [`qr_like_png`] drawn in `style`: an RGBA PNG whose dark modules are `line` and whose
/// background is transparent with `hyaline`; a plain style is the grayscale PNG.
pub fn qr_like_png_styled(seed: &str, style: CodeStyle) -> Vec<u8> {
    if style == CodeStyle::default() {
        return qr_like_png(seed);
    }
    let (side, gray) = qr_like_pixels(seed);
    let (r, g, b) = style.line.unwrap_or((0, 0, 0));
    let mut rgba = Vec::with_capacity(gray.len() * 4);
    for p in gray {
        if p == 0 {
            rgba.extend_from_slice(&[r, g, b, 255]);
        } else {
            rgba.extend_from_slice(&[255, 255, 255, if style.hyaline { 0 } else { 255 }]);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .and_then(|mut w| w.write_image_data(&rgba))
        .expect("an RGBA image of the declared size encodes");
    out
}

/// The side in pixels and the grayscale pixels (row by row) of a QR-looking square for `seed`.
fn qr_like_pixels(seed: &str) -> (usize, Vec<u8>) {
    let side = (MODULES + 2 * BORDER) * SCALE;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut dark = vec![false; MODULES * MODULES];
    for (i, d) in dark.iter_mut().enumerate() {
        h ^= h << 13;
        h ^= h >> 7;
        h ^= h << 17;
        *d = (h.wrapping_add(i as u64) & 1) == 1;
    }
    for (ox, oy) in [(0, 0), (MODULES - 7, 0), (0, MODULES - 7)] {
        for y in 0..7 {
            for x in 0..7 {
                let ring = x == 0 || y == 0 || x == 6 || y == 6;
                let core = (2..=4).contains(&x) && (2..=4).contains(&y);
                dark[(oy + y) * MODULES + ox + x] = ring || core;
            }
            if ox + 7 < MODULES {
                dark[(oy + y) * MODULES + ox + 7] = false;
            }
        }
    }
    let mut pixels = Vec::with_capacity(side * side);
    for py in 0..side {
        for px in 0..side {
            let (mx, my) = (px / SCALE, py / SCALE);
            let on = mx >= BORDER
                && my >= BORDER
                && mx < BORDER + MODULES
                && my < BORDER + MODULES
                && dark[(my - BORDER) * MODULES + (mx - BORDER)];
            pixels.push(if on { 0 } else { 255 });
        }
    }
    (side, pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_is_a_jpeg_that_depends_on_the_path() {
        let jpeg = qr_like_jpeg("pages/index");
        assert_eq!(&jpeg[..3], &[0xff, 0xd8, 0xff], "SOI and a marker");
        assert_eq!(&jpeg[jpeg.len() - 2..], &[0xff, 0xd9], "EOI");
        assert_ne!(jpeg, qr_like_jpeg("pages/other"));
    }

    #[test]
    fn the_code_is_a_png_that_decodes_and_depends_on_the_scene() {
        let png_bytes = qr_like_png("wx1|release|pages/index|a=1");
        assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(&png_bytes));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!(info.width, ((MODULES + 2 * BORDER) * SCALE) as u32);
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        assert_ne!(png_bytes, qr_like_png("wx1|release|pages/index|a=2"));
    }

    #[test]
    fn a_styled_code_is_rgba_with_its_line_colour_and_a_transparent_background() {
        let style = CodeStyle {
            line: Some((200, 10, 20)),
            hyaline: true,
        };
        let bytes = qr_like_png_styled("wx1|release|pages/index|a=1", style);
        let mut reader = png::Decoder::new(std::io::Cursor::new(&bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let frame = reader.next_frame(&mut buf).unwrap();
        assert_eq!(frame.color_type, png::ColorType::Rgba);
        let px: Vec<&[u8]> = buf.chunks(4).collect();
        assert_eq!(px[0], &[255, 255, 255, 0], "the border is transparent");
        assert!(
            px.contains(&&[200u8, 10, 20, 255][..]),
            "dark modules in the line colour"
        );
    }
}
