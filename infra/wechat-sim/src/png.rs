//! A tiny PNG encoder (grayscale, stored deflate blocks) for `/wxa/get_qrcode`: a QR-looking
//! image whose modules depend on the requested path. Not a scannable QR code.

const MODULES: usize = 25;
const SCALE: usize = 4;
const BORDER: usize = 2;

/// A valid PNG (8-bit grayscale) for `seed`.
pub fn qr_like_png(seed: &str) -> Vec<u8> {
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
    let mut raw = Vec::with_capacity(side * (side + 1));
    for py in 0..side {
        raw.push(0); // filter: none
        for px in 0..side {
            let (mx, my) = (px / SCALE, py / SCALE);
            let on = mx >= BORDER
                && my >= BORDER
                && mx < BORDER + MODULES
                && my < BORDER + MODULES
                && dark[(my - BORDER) * MODULES + (mx - BORDER)];
            raw.push(if on { 0 } else { 255 });
        }
    }
    encode_gray(side as u32, side as u32, &raw)
}

/// `raw` holds scanlines each prefixed with a filter byte.
fn encode_gray(width: u32, height: u32, raw: &[u8]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // depth 8, grayscale, deflate, no filter, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib_stored(raw));
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let mut blocks = data.chunks(65_535).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        out.push(u8::from(blocks.peek().is_none()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn the_png_has_a_signature_an_ihdr_and_an_iend() {
        let png = qr_like_png("pages/index");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND");
        assert_ne!(png, qr_like_png("pages/other"));
    }
}
