//! The cross-kind part of reading a file: names of other entries (`bus: orders`), `${...}`
//! references in strings, and `access` grants, each resolved against the sections and checked
//! once every section is read.

use super::{Checker, EnvRef, Fields};
use crate::spec::model::{Access, Ref, Section, Spec, Template, TemplatePart};
use crate::spec::schema::Field;
use crate::spec::template::{self, RawPart};
use crate::spec::text::{or_list, suggest};
use crate::spec::yaml::{Node, Span};

impl Checker<'_, '_> {
    // ----- references across kinds -------------------------------------------------------

    /// Split a string into a [`Template`], resolving each reference's section and attribute
    /// (whether the name exists is checked by [`Checker::check_references`]).
    pub(crate) fn template(
        &mut self,
        text: &str,
        node: &Node,
        path: &str,
        function: &str,
    ) -> Option<Template> {
        match template::split(text) {
            Err(errors) => {
                for e in errors {
                    let span = self.sub_span(node, text, e.range);
                    self.error(span, path, e.message, e.help);
                }
                None
            }
            Ok(raw) => {
                let mut parts = Vec::new();
                let mut ok = true;
                for part in raw {
                    match part {
                        RawPart::Literal(s) => parts.push(TemplatePart::Literal(s)),
                        RawPart::Ref(r) => {
                            let span = self.sub_span(node, text, r.range.clone());
                            match self.resolve_ref(&r.section, &r.attribute, span, path) {
                                Some((kind, attribute)) => {
                                    let reference = Ref {
                                        kind,
                                        name: r.name.clone(),
                                        attribute,
                                    };
                                    self.env_refs.push(EnvRef {
                                        function: function.to_string(),
                                        path: path.to_string(),
                                        span,
                                        reference: reference.clone(),
                                    });
                                    parts.push(TemplatePart::Ref(reference));
                                }
                                None => ok = false,
                            }
                        }
                    }
                }
                ok.then_some(Template { parts })
            }
        }
    }

    fn resolve_ref(
        &mut self,
        section: &str,
        attribute: &str,
        span: Span,
        path: &str,
    ) -> Option<(Section, &'static str)> {
        // Sections whose entries have attributes to reference.
        let referable: Vec<Section> = Section::ALL
            .iter()
            .copied()
            .filter(|s| !s.attributes().is_empty())
            .collect();
        let Some(kind) = referable.iter().copied().find(|s| s.key() == section) else {
            let keys: Vec<&str> = referable.iter().map(|s| s.key()).collect();
            let help = match suggest(section, keys.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("references start with {}", or_list(&keys)),
            };
            self.error(
                span,
                path,
                format!("unknown section `{section}` in reference"),
                Some(help),
            );
            return None;
        };
        let allowed = kind.attributes();
        match allowed.iter().find(|a| **a == attribute) {
            Some(a) => Some((kind, *a)),
            None => {
                let names = allowed;
                let help = match suggest(attribute, names.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("{section} have: {}", names.join(", ")),
                };
                self.error(
                    span,
                    path,
                    format!("{section} have no attribute `{attribute}`"),
                    Some(help),
                );
                None
            }
        }
    }

    /// The span of `range` (bytes of the scalar's value) in the file, when the value is
    /// written verbatim on one line; otherwise the whole scalar.
    pub(crate) fn sub_span(&self, node: &Node, value: &str, range: std::ops::Range<usize>) -> Span {
        let text = self.report.text();
        let raw = text
            .get(node.span.offset..node.span.offset + node.span.len)
            .unwrap_or("");
        let inner_start = if raw.starts_with('"') || raw.starts_with('\'') {
            1
        } else {
            0
        };
        let inner = raw.get(inner_start..inner_start + value.len());
        if inner == Some(value) && !value.contains('\n') {
            let before = &value[..range.start];
            Span {
                line: node.span.line,
                column: node.span.column + inner_start + before.chars().count(),
                offset: node.span.offset + inner_start + range.start,
                len: range.len(),
            }
        } else {
            node.span
        }
    }

    /// A [`Type::Access`] list: each entry names one entry of a section that offers verbs
    /// (by its singular key: `queue: orders`) and one of that kind's verbs.
    pub(crate) fn access(&mut self, f: &Fields<'_>, field: &Field) -> Vec<Access> {
        let grantable: Vec<Section> = Section::ALL
            .iter()
            .copied()
            .filter(|s| !s.verbs().is_empty())
            .collect();
        let singulars: Vec<&str> = grantable.iter().map(|s| s.singular()).collect();
        let mut allowed = singulars.clone();
        allowed.push("verb");
        let mut access: Vec<Access> = Vec::new();
        // Index in the file of each kept entry, for messages.
        let mut written_at: Vec<usize> = Vec::new();
        let items = self.list(f, field);
        let list_path = f.path_of(field.key);
        for (i, item) in items.iter().enumerate() {
            let path = format!("{list_path}[{i}]");
            let e = self.fields_with_keys(item, &path, item.span, &allowed);
            if e.broken {
                continue;
            }
            let named: Vec<Section> = grantable
                .iter()
                .copied()
                .filter(|s| e.get(s.singular()).is_some())
                .collect();
            let section = match named.as_slice() {
                [one] => *one,
                [] => {
                    self.error(
                        item.span,
                        &path,
                        format!(
                            "an access entry names exactly one of {}",
                            or_list(&singulars)
                        ),
                        Some("e.g. { queue: orders, verb: send }".into()),
                    );
                    continue;
                }
                _ => {
                    let written: Vec<&str> = named.iter().map(|s| s.singular()).collect();
                    self.error(
                        item.span,
                        &path,
                        format!(
                            "an access entry names exactly one of {}, got {}",
                            or_list(&singulars),
                            written.join(" and ")
                        ),
                        Some("write one entry per resource".into()),
                    );
                    continue;
                }
            };
            let kind = section.singular();
            let name = self.name_ref(&e, kind, section, true);
            let verb_text = self.req_str(&e, "verb");
            let (Some(name), Some(verb_text)) = (name, verb_text) else {
                continue;
            };
            let verbs = section.verbs();
            let Some(verb) = verbs.iter().find(|v| v.name == verb_text) else {
                let names: Vec<&str> = verbs.iter().map(|v| v.name).collect();
                let verb_path = e.path_of("verb");
                let span = self.span_at(&verb_path);
                let help = suggest(&verb_text, names.iter().copied())
                    .map(|s| format!("did you mean `{s}`?"));
                self.error(
                    span,
                    &verb_path,
                    format!(
                        "verb for a {kind} must be {}, got {verb_text:?}",
                        names.join(" or ")
                    ),
                    help,
                );
                continue;
            };
            let entry = Access::new(section, name, verb.name);
            if let Some(first) = access.iter().position(|a| *a == entry) {
                let first_line = self
                    .span_at(&format!("{list_path}[{}]", written_at[first]))
                    .line;
                self.error(
                    item.span,
                    &path,
                    format!("duplicate access entry (same as the one at line {first_line})"),
                    None,
                );
                continue;
            }
            access.push(entry);
            written_at.push(i);
        }
        access
    }

    // ----- checks across resources ----------------------------------------------------------

    pub(crate) fn check_references(&mut self, spec: &Spec) {
        let names = std::mem::take(&mut self.name_refs);
        for r in &names {
            if !spec.declares(r.kind, &r.name) {
                let span = self.span_at(&r.path);
                self.dangling(spec, r.kind, &r.name, span, &r.path);
            }
        }
        let envs = std::mem::take(&mut self.env_refs);
        for r in &envs {
            if !spec.declares(r.reference.kind, &r.reference.name) {
                self.dangling(spec, r.reference.kind, &r.reference.name, r.span, &r.path);
            }
        }
        self.env_refs = envs;
    }

    fn dangling(&mut self, spec: &Spec, kind: Section, name: &str, span: Span, path: &str) {
        let declared = spec.names(kind);
        let plural = kind.key();
        let help = match suggest(name, declared.iter().copied()) {
            Some(close) => format!("did you mean `{close}`?"),
            None if declared.is_empty() => format!("no {plural} are declared"),
            None => format!("declared {plural}: {}", declared.join(", ")),
        };
        self.error(
            span,
            path,
            format!("no {} named `{name}` is declared", kind.singular()),
            Some(help),
        );
    }
}
