//! Standard base64 decoding (RFC 4648, with or without padding), for `base64:` tag values.

pub fn decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero padding (fewer than 6 of them).
    (bits < 6 && acc == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn table() {
        for (enc, dec) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg", "foob"),
            ("eyJhIjoxfQ==", "{\"a\":1}"),
        ] {
            assert_eq!(decode(enc).as_deref(), Some(dec.as_bytes()), "{enc}");
        }
        assert_eq!(decode("Zm9v!"), None);
        assert_eq!(decode("Zh=="), None, "non-zero padding bits");
    }
}

/// Standard base64 encoding with padding.
pub fn encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod encode_tests {
    #[test]
    fn round_trips() {
        for s in ["", "f", "fo", "foo", "foob", "{\"text\": \"great\"}"] {
            let enc = super::encode(s.as_bytes());
            assert_eq!(super::decode(&enc).as_deref(), Some(s.as_bytes()), "{s} -> {enc}");
        }
        assert_eq!(super::encode(b"foo"), "Zm9v");
        assert_eq!(super::encode(b"f"), "Zg==");
    }
}
