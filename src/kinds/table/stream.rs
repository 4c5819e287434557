//! A table's DynamoDB stream (`stream: changes`): new and old images of every item change,
//! kept 24 hours; its ARN is the table's `stream_arn` output, what a change-events pipe reads.
//!
//! DynamoDB enables or disables a stream with UpdateTable, alone in its call (it takes no
//! other change with it), and gives a re-enabled stream a new ARN.

use aws_sdk_dynamodb::types::{StreamSpecification, StreamViewType, TableDescription};
use serde_json::Value;

use crate::error::Error;
use crate::resources::Ctx;

/// The view `stream: changes` stands for.
const CHANGES: StreamViewType = StreamViewType::NewAndOldImages;

/// The stream as a prop: `"changes"`, another view type as DynamoDB names it (set by someone
/// else: a change), or `null` when disabled.
pub(super) fn stream_value(t: &TableDescription) -> Value {
    match t.stream_specification() {
        Some(s) if s.stream_enabled() => match s.stream_view_type() {
            Some(v) if *v == CHANGES => Value::String("changes".into()),
            Some(v) => Value::String(v.as_str().to_string()),
            None => Value::String("enabled".into()),
        },
        _ => Value::Null,
    }
}

pub(super) fn desired_value(enabled: bool) -> Value {
    if enabled {
        Value::String("changes".into())
    } else {
        Value::Null
    }
}

/// The specification CreateTable and UpdateTable take.
pub(super) fn specification(res: &str, enabled: bool) -> Result<StreamSpecification, Error> {
    StreamSpecification::builder()
        .stream_enabled(enabled)
        .set_stream_view_type(enabled.then_some(CHANGES))
        .build()
        .map_err(|e| Error::Other(format!("{res}: building the stream specification: {e}")))
}

/// The ARN of the table's enabled stream.
pub(super) fn stream_arn(t: &TableDescription) -> Option<&str> {
    t.stream_specification()
        .filter(|s| s.stream_enabled())
        .and(t.latest_stream_arn())
}

/// The UpdateTables (stream enabled or not) that take the live stream — `None` disabled,
/// `Some("changes")` ours, `Some(view)` another view someone set — to the declared one.
fn steps(live: Option<&str>, enabled: bool) -> &'static [bool] {
    match (live, enabled) {
        (Some("changes"), true) | (None, false) => &[],
        (None, true) => &[true],
        (Some("changes"), false) | (Some(_), false) => &[false],
        (Some(_), true) => &[false, true],
    }
}

/// Enable or disable the stream. From another view type, the stream is disabled first (one
/// view per stream).
pub(super) async fn set_stream(
    ctx: &Ctx,
    res: &str,
    physical: &str,
    old: Option<&Value>,
    enabled: bool,
) -> Result<(), Error> {
    for &step in steps(old.and_then(Value::as_str), enabled) {
        super::provider::wait_active(ctx, res, physical).await?;
        ctx.aws
            .dynamodb
            .update_table()
            .table_name(physical)
            .stream_specification(specification(res, step)?)
            .send()
            .await
            .map_err(|e| Error::aws(res, "UpdateTable", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(spec: Option<(bool, StreamViewType)>) -> TableDescription {
        let mut t = TableDescription::builder().latest_stream_arn("arn:stream");
        if let Some((enabled, view)) = spec {
            t = t.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(enabled)
                    .stream_view_type(view)
                    .build()
                    .unwrap(),
            );
        }
        t.build()
    }

    #[test]
    fn another_view_is_disabled_before_ours_is_enabled() {
        assert_eq!(steps(None, true), [true]);
        assert_eq!(steps(Some("changes"), true), [] as [bool; 0]);
        assert_eq!(steps(Some("changes"), false), [false]);
        assert_eq!(steps(Some("KEYS_ONLY"), true), [false, true]);
        assert_eq!(steps(Some("KEYS_ONLY"), false), [false]);
        assert_eq!(steps(None, false), [] as [bool; 0]);
    }

    #[test]
    fn only_an_enabled_new_and_old_images_stream_is_changes() {
        assert_eq!(stream_value(&table(None)), Value::Null);
        assert_eq!(
            stream_value(&table(Some((true, StreamViewType::NewAndOldImages)))),
            "changes"
        );
        assert_eq!(
            stream_value(&table(Some((true, StreamViewType::KeysOnly)))),
            "KEYS_ONLY"
        );
        assert_eq!(
            stream_value(&table(Some((false, StreamViewType::NewAndOldImages)))),
            Value::Null
        );
        assert_eq!(stream_arn(&table(None)), None);
        assert_eq!(
            stream_arn(&table(Some((true, StreamViewType::NewAndOldImages)))),
            Some("arn:stream")
        );
    }
}
