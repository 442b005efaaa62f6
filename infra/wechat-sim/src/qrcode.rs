//! The image `/wxa/get_qrcode` answers: a QR-looking grayscale JPEG (get_qrcode.html documents
//! image/jpeg) whose modules depend on the requested path. Not a scannable QR code.

const MODULES: usize = 25;
const SCALE: usize = 4;
const BORDER: usize = 2;

/// A valid baseline JPEG (8-bit grayscale) for `seed`.
pub fn qr_like_jpeg(seed: &str) -> Vec<u8> {
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
    let mut out = Vec::new();
    let side = side as u16;
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(&pixels, side, side, jpeg_encoder::ColorType::Luma)
        .expect("a grayscale image of the declared size encodes");
    out
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
}
