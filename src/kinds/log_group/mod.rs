//! Log groups `/aws/lambda/<stack>-<function>`: one per function, a resource derived from the
//! function (like its role), created before it so that Lambda writes into a group orderflow
//! owns — tagged, with the retention the function declares (`log_retention`) — instead of
//! creating one itself with infinite retention that `down` would leave behind.
//!
//! A group that already exists without any ownership tag (Lambda created it for a function
//! deployed before orderflow managed log groups, or before the function's first `up`) is only
//! taken over when the function says `adopt_log_group: true`: its logs are then the stack's,
//! kept for `log_retention` days and deleted by `down`.

pub(crate) mod provider;

pub use provider::LogGroupProvider;

use crate::spec::decode::{Checker, Fields};
use crate::spec::schema::Field;

/// The retentions CloudWatch Logs accepts (PutRetentionPolicy `retentionInDays`), in days.
pub const RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// Where Lambda writes a function's logs (its default log group).
pub fn log_group_name(stack: &str, function: &str) -> String {
    format!(
        "/aws/lambda/{}",
        crate::resources::physical_name(stack, function)
    )
}

/// The allowed retention closest to `days` (the shorter one on a tie: it costs less).
pub fn nearest_retention(days: i64) -> u32 {
    RETENTION_DAYS
        .iter()
        .copied()
        .min_by_key(|allowed| (i64::from(*allowed) - days).abs())
        .unwrap_or(14)
}

/// A retention key (`log_retention`): one of [`RETENTION_DAYS`], its default when absent; a
/// value CloudWatch Logs would refuse is reported at its position with the nearest allowed one.
pub(crate) fn retention(cx: &mut Checker<'_, '_>, f: &Fields<'_>, field: &Field) -> u32 {
    let default = field.default_int();
    let Some(days) = cx.opt_int(f, field.key) else {
        return default;
    };
    match u32::try_from(days) {
        Ok(d) if RETENTION_DAYS.contains(&d) => d,
        _ => {
            let path = f.path_of(field.key);
            let span = cx.span_at(&path);
            let allowed: Vec<String> = RETENTION_DAYS.iter().map(u32::to_string).collect();
            cx.error(
                span,
                &path,
                format!(
                    "CloudWatch Logs cannot keep log events for {days} days; it allows {}",
                    allowed.join(", ")
                ),
                Some(format!(
                    "the nearest allowed value is {}",
                    nearest_retention(days)
                )),
            );
            default
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::test_support::errors;

    fn spec(function_keys: &str) -> String {
        format!("stack: shop\nfunctions:\n  validate:\n    crate: validate-order\n{function_keys}")
    }

    #[test]
    fn names_follow_lambdas_default_log_group() {
        assert_eq!(
            log_group_name("shop", "validate"),
            "/aws/lambda/shop-validate"
        );
    }

    #[test]
    fn nearest_allowed_retention() {
        assert_eq!(nearest_retention(0), 1);
        assert_eq!(nearest_retention(2), 1, "a tie goes to the shorter one");
        assert_eq!(nearest_retention(10), 7);
        assert_eq!(nearest_retention(11), 14);
        assert_eq!(nearest_retention(365), 365);
        assert_eq!(nearest_retention(1000), 1096);
        assert_eq!(nearest_retention(100_000), 3653);
        assert_eq!(nearest_retention(-5), 1);
    }

    #[test]
    fn retention_and_adoption_default_to_14_days_and_no() {
        let s = crate::spec::parse("p.yaml", &spec("")).expect("valid");
        let f = &s.functions["validate"];
        assert_eq!(f.log_retention_days, 14);
        assert!(!f.adopt_log_group);
    }

    #[test]
    fn every_allowed_retention_is_accepted() {
        for days in RETENTION_DAYS {
            let text = spec(&format!(
                "    log_retention: {days}\n    adopt_log_group: true\n"
            ));
            let s = crate::spec::parse("p.yaml", &text).expect("valid");
            let f = &s.functions["validate"];
            assert_eq!(f.log_retention_days, *days);
            assert!(f.adopt_log_group);
        }
    }

    /// The one error of `text`: its `file:line:col: key: message` line and its help.
    fn only_error(text: &str) -> (String, Option<String>) {
        let errs = crate::spec::parse("p.yaml", text)
            .expect_err("invalid")
            .errors;
        assert_eq!(errs.len(), 1, "{errs:?}");
        (errs[0].to_string(), errs[0].help.clone())
    }

    #[test]
    fn a_retention_cloudwatch_refuses_is_reported_with_the_nearest_allowed_value() {
        let (line, help) = only_error(&spec("    log_retention: 10\n"));
        assert!(
            line.starts_with(
                "p.yaml:5:20: functions.validate.log_retention: CloudWatch Logs cannot keep log events for 10 days; it allows 1, 3, 5, 7, 14, 30,"
            ),
            "{line}"
        );
        assert!(line.ends_with("3288, 3653"), "{line}");
        assert_eq!(help.as_deref(), Some("the nearest allowed value is 7"));

        for (value, nearest) in [("0", "1"), ("4000", "3653"), ("-3", "1"), ("400", "")] {
            if nearest.is_empty() {
                crate::spec::parse("p.yaml", &spec(&format!("    log_retention: {value}\n")))
                    .expect("400 is allowed");
                continue;
            }
            let (line, help) = only_error(&spec(&format!("    log_retention: {value}\n")));
            assert!(line.contains(&format!("for {value} days")), "{line}");
            assert_eq!(
                help,
                Some(format!("the nearest allowed value is {nearest}")),
                "{value}"
            );
        }
    }

    #[test]
    fn retention_and_adoption_must_have_their_types() {
        let errs = errors(&spec(
            "    log_retention: \"14\"\n    adopt_log_group: yes please\n",
        ));
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].contains("functions.validate.log_retention: expected an integer"),
            "{errs:?}"
        );
        assert!(
            errs[1].contains("functions.validate.adopt_log_group"),
            "{errs:?}"
        );
    }
}
