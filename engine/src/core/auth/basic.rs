//! The Basic scheme's answer (RFC 7617).
//!
//= https://www.rfc-editor.org/rfc/rfc7617#section-2
//! The user-id and password are joined by a colon and sent in base64: anyone on the path can
//! read them, so the caller sends Basic only where the job's credentials allow it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The `Authorization` / `Proxy-Authorization` value: `Basic <base64(user ":" password)>`.
///
/// Always encodes as UTF-8, the only encoding RFC 7617 §2.1 lets a server ask for
/// (`charset="UTF-8"`); without that parameter the encoding is unspecified and UTF-8 is what
/// current clients send. Check the user with [`check_user`] first: a colon in it would move
/// the split point on the server.
pub fn authorization(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// Whether `user` can be sent with Basic.
///
//= https://www.rfc-editor.org/rfc/rfc7617#section-2
//# a user-id containing a colon character is invalid
//
// The same paragraph forbids control characters (CTL of RFC 5234: U+0000-U+001F, U+007F) in
// the user-id and the password; the user is checked here, the password is the caller's.
pub fn check_user(user: &str) -> Result<(), String> {
    if user.contains(':') {
        return Err("Basic user name contains ':', which would split it (RFC 7617 §2)".into());
    }
    if let Some(c) = user.chars().find(char::is_ascii_control) {
        return Err(format!(
            "Basic user name contains control character U+{:04X} (RFC 7617 §2)",
            u32::from(c)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    //= https://www.rfc-editor.org/rfc/rfc7617#section-2
    #[test]
    fn rfc7617_aladdin() {
        assert_eq!(authorization("Aladdin", "open sesame"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    }

    //= https://www.rfc-editor.org/rfc/rfc7617#section-2.1
    #[test]
    fn rfc7617_utf8_password() {
        assert_eq!(authorization("test", "123\u{a3}"), "Basic dGVzdDoxMjPCow==");
    }

    #[test]
    fn empty_credentials_and_colons_in_passwords_are_fine() {
        assert_eq!(authorization("", ""), "Basic Og==");
        assert_eq!(authorization("a", "b:c"), "Basic YTpiOmM=");
        assert_eq!(check_user(""), Ok(()));
        assert_eq!(check_user("DOMAIN\\user"), Ok(()));
    }

    #[test]
    fn colons_and_control_characters_in_user_names_are_refused() {
        assert!(check_user("a:b").unwrap_err().contains("':'"));
        assert!(check_user("a\r\nb").unwrap_err().contains("U+000D"));
        assert!(check_user("a\x7f").is_err());
    }
}
