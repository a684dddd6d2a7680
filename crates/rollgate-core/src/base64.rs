//! Standard base64 (RFC 4648) for `base64:` tag values, through the `base64` crate.

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};

/// Decodes standard base64, with or without padding. `None` if it is not base64.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(s).ok()
}

/// Standard base64 with padding.
pub fn encode(bytes: &[u8]) -> String {
    general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::{decode, encode};

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

    #[test]
    fn round_trips() {
        for s in ["", "f", "fo", "foo", "foob", "{\"text\": \"great\"}"] {
            let enc = encode(s.as_bytes());
            assert_eq!(decode(&enc).as_deref(), Some(s.as_bytes()), "{s} -> {enc}");
        }
        assert_eq!(encode(b"foo"), "Zm9v");
        assert_eq!(encode(b"f"), "Zg==");
    }
}
