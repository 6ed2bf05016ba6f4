//! Checksums of migration files, normalised so that a checkout on another OS (CRLF line
//! ends, a UTF-8 byte order mark) does not count as an edit.

use sha2::{Digest, Sha256};

/// Drops a leading byte order mark and turns CRLF line ends into LF.
pub fn normalize(text: &str) -> String {
    text.strip_prefix('\u{feff}')
        .unwrap_or(text)
        .replace("\r\n", "\n")
}

/// SHA-256 of the normalised text, as lowercase hex.
pub fn checksum(text: &str) -> String {
    hex::encode(Sha256::digest(normalize(text).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ends_and_bom_do_not_change_the_checksum() {
        let lf = checksum("select 1;\nselect 2;\n");
        assert_eq!(lf, checksum("select 1;\r\nselect 2;\r\n"));
        assert_eq!(lf, checksum("\u{feff}select 1;\nselect 2;\n"));
        assert_ne!(lf, checksum("select 1;\nselect 3;\n"));
        // Pinned: a hashing change (a sha2 upgrade) would make every recorded checksum stale.
        assert_eq!(
            checksum(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
