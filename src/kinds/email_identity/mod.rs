//! `email_identities:` — SES (API v2) email address identities, the senders functions may use.
//!
//! Unlike every other kind, the physical name is not `<stack>-<name>`: the identity *is* the
//! email address. Ownership therefore rests on the tag alone: the identity is created with
//! `orderflow:stack=<stack>`, an existing identity without it is never adopted, and `down` only
//! deletes identities carrying it. SES sends the address a verification email when the identity
//! is created; until the recipient follows the link the identity is `PENDING` — shown after
//! `up`, never a difference in `plan`.
//!
//! Domain identities are not supported yet (they need DNS records for DKIM).

pub(crate) mod provider;

pub use provider::EmailIdentityProvider;

use std::collections::BTreeMap;

use super::{Kind, KindSpec, Section, Spec};
use crate::resources::ResourceId;
use crate::spec::decode::{Checker, Fields};
use crate::spec::schema::{Field, VerbDef};

#[derive(Debug, Clone, PartialEq)]
pub struct EmailIdentity {
    /// The address, as written (SES identities are the address itself).
    pub email: String,
}

const EMAIL: Field = Field::string(
    "email",
    "The address to send from; SES emails it a verification link.",
)
.required();

/// The longest address SMTP carries (RFC 5321: a 256-octet path, less the angle brackets).
const MAX_ADDRESS: usize = 254;
/// RFC 5321's limits on the local part and on a domain label.
const MAX_LOCAL_PART: usize = 64;
const MAX_LABEL: usize = 63;

impl KindSpec for EmailIdentity {
    const SECTION: Section = Section::EmailIdentity;
    const SINGULAR: &'static str = "email_identity";
    const DOC: &'static str =
        "SES email identities (an address or a domain) functions may send email from.";
    const RESOURCE: Kind = Kind::EmailIdentity;
    const FIELDS: &'static [Field] = &[EMAIL];
    const ATTRIBUTES: &'static [&'static str] = &["email", "arn"];
    const SHOWN_OUTPUT: Option<&'static str> = Some("verification_status");
    const VERBS: &'static [VerbDef] = &[VerbDef {
        name: "send_email",
        actions: &["ses:SendEmail", "ses:SendRawEmail"],
        doc: "`ses:SendEmail` and `ses:SendRawEmail` from the identity",
    }];

    fn decode(cx: &mut Checker<'_, '_>, f: &Fields<'_>, _name: &str) -> EmailIdentity {
        let email = email_address(cx, f, &EMAIL).unwrap_or_default();
        EmailIdentity { email }
    }

    fn check(cx: &mut Checker<'_, '_>, spec: &Spec) {
        // Two entries for one address would fight over one SES identity.
        let mut first: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, identity) in &spec.email_identities {
            if identity.email.is_empty() {
                continue;
            }
            match first.get(identity.email.as_str()) {
                Some(other) => {
                    let path = format!("email_identities.{name}.email");
                    let span = cx.span_at(&path);
                    cx.error(
                        span,
                        &path,
                        format!(
                            "{} is already declared as email identity {other}",
                            identity.email
                        ),
                        Some("an address is one SES identity: declare it once".into()),
                    );
                }
                None => {
                    first.insert(&identity.email, name);
                }
            }
        }
    }

    fn resources(&self, name: &str, out: &mut Vec<ResourceId>) {
        out.push(ResourceId::new(Kind::EmailIdentity, name));
    }
}

/// A string field holding an email address, checked with [`check_email`] (reported at the
/// value). `None` when absent or wrong.
pub(crate) fn email_address(
    cx: &mut Checker<'_, '_>,
    f: &Fields<'_>,
    field: &Field,
) -> Option<String> {
    let address = cx.string(f, field)?;
    if let Err(why) = check_email(&address) {
        let path = f.path_of(field.key);
        let span = cx.span_at(&path);
        cx.error(
            span,
            &path,
            format!("{address:?} is not an email address: {why}"),
            Some("e.g. orders@example.com".into()),
        );
        return None;
    }
    Some(address)
}

/// The address forms SES and SNS accept: `local@domain`, ASCII (an internationalised domain in
/// its `xn--` form), an unquoted local part of at most 64 characters, a domain of at least two
/// DNS labels, at most 254 characters in all.
pub(crate) fn check_email(address: &str) -> Result<(), String> {
    if address.is_empty() {
        return Err("it is empty".into());
    }
    if !address.is_ascii() {
        return Err(
            "only ASCII is supported (write an internationalised domain in its xn-- form)".into(),
        );
    }
    if address.len() > MAX_ADDRESS {
        return Err(format!(
            "at most {MAX_ADDRESS} characters, got {}",
            address.len()
        ));
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err("it has no `@`".into());
    };
    if local.contains('@') {
        return Err("it has more than one `@`".into());
    }
    if local.is_empty() {
        return Err("nothing before the `@`".into());
    }
    if local.len() > MAX_LOCAL_PART {
        return Err(format!(
            "the part before the `@` is at most {MAX_LOCAL_PART} characters, got {}",
            local.len()
        ));
    }
    if let Some(c) = local
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(*c)))
    {
        return Err(format!("{c:?} is not allowed before the `@`"));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("dots before the `@` must separate characters".into());
    }
    check_domain(domain)
}

fn check_domain(domain: &str) -> Result<(), String> {
    if domain.is_empty() {
        return Err("nothing after the `@`".into());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(format!("the domain {domain:?} has no dot"));
    }
    for label in &labels {
        if label.is_empty() {
            return Err(format!("the domain {domain:?} has an empty label"));
        }
        if label.len() > MAX_LABEL {
            return Err(format!(
                "domain labels are at most {MAX_LABEL} characters, {label:?} has {}",
                label.len()
            ));
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!(
                "domain labels hold letters, digits and `-`, got {label:?}"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "domain labels do not start or end with `-`, got {label:?}"
            ));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(format!("{domain:?} is not a domain name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::test_support::errors;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "orders@example.com",
            "first.last+tag@mail.example.co.uk",
            "o'brien@example.com",
            "x@xn--bcher-kva.example",
        ] {
            assert_eq!(check_email(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_what_ses_would() {
        for (bad, why) in [
            ("", "empty"),
            ("orders.example.com", "no `@`"),
            ("a@b@example.com", "more than one"),
            ("@example.com", "nothing before"),
            ("orders@", "nothing after"),
            ("orders@localhost", "no dot"),
            ("orders@example..com", "empty label"),
            (".orders@example.com", "dots"),
            ("or..ders@example.com", "dots"),
            ("or ders@example.com", "' ' is not allowed"),
            ("orders@-example.com", "start or end"),
            ("orders@exa_mple.com", "letters, digits"),
            ("orders@10.0.0.1", "not a domain name"),
            ("bücher@example.com", "ASCII"),
        ] {
            let err = check_email(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(check_email(&long_local).unwrap_err().contains("at most 64"));
        let long = format!("a@{}.com", vec!["b".repeat(60); 5].join("."));
        assert!(check_email(&long).unwrap_err().contains("at most 254"));
    }

    #[test]
    fn parses_and_reports_with_positions() {
        let spec = crate::spec::parse(
            "p.yaml",
            "stack: s\nemail_identities:\n  sender: { email: orders@example.com }\n",
        )
        .unwrap();
        assert_eq!(spec.email_identities["sender"].email, "orders@example.com");
        assert_eq!(
            errors(
                "stack: s\nemail_identities:\n  sender: { email: orders }\n  other: {}\n  dup: { email: a@example.com }\n  dup2: { email: a@example.com }\n  dom: { domain: example.com }\n"
            ),
            vec![
                "p.yaml:3:20: email_identities.sender.email: \"orders\" is not an email address: it has no `@`",
                "p.yaml:4:3: email_identities.other: missing required key `email` in `other`",
                "p.yaml:6:18: email_identities.dup2.email: a@example.com is already declared as email identity dup",
                "p.yaml:7:3: email_identities.dom: missing required key `email` in `dom`",
                "p.yaml:7:10: email_identities.dom.domain: unknown key `domain`",
            ]
        );
    }
}
