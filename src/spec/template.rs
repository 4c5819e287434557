//! `${section.name.attribute}` references inside strings; `$${` is a literal `${`.
//!
//! This module only splits the text; whether a reference points at something declared is
//! checked by the validator, which knows the declared names.

use std::ops::Range;

/// A piece of a template before its references are resolved against the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawPart {
    Literal(String),
    Ref(RawRef),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRef {
    pub section: String,
    pub name: String,
    pub attribute: String,
    /// Byte range of the whole `${...}` in the template text.
    pub range: Range<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte range in the template text.
    pub range: Range<usize>,
    pub message: String,
    pub help: Option<String>,
}

const FORM_HELP: &str =
    "a reference has the form ${section.name.attribute}, e.g. ${queues.orders.url}; write $${ for a literal ${";

/// Split `text` into literals and references. Reports every malformed reference.
pub fn split(text: &str) -> Result<Vec<RawPart>, Vec<TemplateError>> {
    let mut parts = Vec::new();
    let mut errors = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    let mut at = 0; // byte offset of `rest` in `text`
    while let Some(dollar) = rest.find('$') {
        literal.push_str(&rest[..dollar]);
        let after = &rest[dollar..];
        if after.starts_with("$${") {
            literal.push_str("${");
            at += dollar + 3;
            rest = &rest[dollar + 3..];
        } else if after.starts_with("${") {
            let start = at + dollar;
            match after.find('}') {
                None => {
                    errors.push(TemplateError {
                        range: start..text.len(),
                        message: "unterminated reference: `${` without a closing `}`".into(),
                        help: Some(FORM_HELP.into()),
                    });
                    at = text.len();
                    rest = "";
                }
                Some(close) => {
                    let body = &after[2..close];
                    let range = start..start + close + 1;
                    match parse_body(body) {
                        Ok((section, name, attribute)) => {
                            if !literal.is_empty() {
                                parts.push(RawPart::Literal(std::mem::take(&mut literal)));
                            }
                            parts.push(RawPart::Ref(RawRef {
                                section,
                                name,
                                attribute,
                                range,
                            }));
                        }
                        Err(message) => errors.push(TemplateError {
                            range,
                            message,
                            help: Some(FORM_HELP.into()),
                        }),
                    }
                    at += dollar + close + 1;
                    rest = &rest[dollar + close + 1..];
                }
            }
        } else {
            literal.push('$');
            at += dollar + 1;
            rest = &rest[dollar + 1..];
        }
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        parts.push(RawPart::Literal(literal));
    }
    if errors.is_empty() {
        Ok(parts)
    } else {
        Err(errors)
    }
}

fn parse_body(body: &str) -> Result<(String, String, String), String> {
    if body.trim().is_empty() {
        return Err("empty reference `${}`".into());
    }
    let pieces: Vec<&str> = body.split('.').collect();
    let well_formed = pieces.len() == 3
        && pieces.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if !well_formed {
        return Err(format!("malformed reference `${{{body}}}`"));
    }
    Ok((
        pieces[0].to_string(),
        pieces[1].to_string(),
        pieces[2].to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> RawPart {
        RawPart::Literal(s.into())
    }

    fn reference(section: &str, name: &str, attribute: &str, range: Range<usize>) -> RawPart {
        RawPart::Ref(RawRef {
            section: section.into(),
            name: name.into(),
            attribute: attribute.into(),
            range,
        })
    }

    #[test]
    fn plain_text_is_one_literal() {
        assert_eq!(
            split("hello $USER 5$").expect("ok"),
            vec![lit("hello $USER 5$")]
        );
        assert_eq!(split("").expect("ok"), vec![]);
    }

    #[test]
    fn references_anywhere_in_the_string() {
        assert_eq!(
            split("${queues.orders.url}").expect("ok"),
            vec![reference("queues", "orders", "url", 0..20)]
        );
        assert_eq!(
            split("prefix-${tables.orders.name}/${functions.f-1.arn}!").expect("ok"),
            vec![
                lit("prefix-"),
                reference("tables", "orders", "name", 7..28),
                lit("/"),
                reference("functions", "f-1", "arn", 29..49),
                lit("!"),
            ]
        );
    }

    #[test]
    fn double_dollar_escapes() {
        assert_eq!(
            split("$${not.a.ref} and ${buses.b.name}").expect("ok"),
            vec![
                lit("${not.a.ref} and "),
                reference("buses", "b", "name", 18..33)
            ]
        );
    }

    #[test]
    fn malformed_references_are_all_reported() {
        let errors =
            split("${queues.orders} x ${} y ${a.b.c.d} ${queues.orders.url").expect_err("bad");
        let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            vec![
                "malformed reference `${queues.orders}`",
                "empty reference `${}`",
                "malformed reference `${a.b.c.d}`",
                "unterminated reference: `${` without a closing `}`",
            ]
        );
        assert_eq!(errors[0].range, 0..16);
        assert_eq!(errors[3].range, 36..55);
    }
}
