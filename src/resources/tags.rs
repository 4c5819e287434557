//! Tag helpers every provider shares. The `tags` prop is a JSON object of the managed keys only,
//! so foreign tags never show up as drift.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::Ctx;

/// Tags as the JSON object used for the `tags` prop.
pub(crate) fn tags_value(tags: &BTreeMap<String, String>) -> Value {
    Value::Object(
        tags.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// The `tags` prop of desired state: exactly the tags orderflow manages.
pub(crate) fn desired_tags(ctx: &Ctx) -> Value {
    tags_value(&ctx.tags())
}

/// The `tags` prop of live state: the live values of the keys orderflow manages (foreign tags
/// are not orderflow's business, so they never show up as a change).
pub(crate) fn live_managed_tags<K, V>(ctx: &Ctx, live: impl IntoIterator<Item = (K, V)>) -> Value
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let managed = ctx.tags();
    let mut out = Map::new();
    for (k, v) in live {
        if managed.contains_key(k.as_ref()) {
            out.insert(
                k.as_ref().to_string(),
                Value::String(v.as_ref().to_string()),
            );
        }
    }
    Value::Object(out)
}

/// The string entries of a `tags` prop as read live (absent or malformed: none).
fn tag_map(tags: Option<&Value>) -> BTreeMap<String, String> {
    tags.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Tags whose desired value is missing or different live: what a TagResource call must set.
/// Keys dropped from the spec cannot be told apart from foreign tags, so nothing is removed.
pub(crate) fn tags_to_set(desired: &Value, live: Option<&Value>) -> BTreeMap<String, String> {
    let live = tag_map(live);
    tag_map(Some(desired))
        .into_iter()
        .filter(|(k, v)| live.get(k) != Some(v))
        .collect()
}

/// Tags to set and keys to remove to move `live` (the managed tags as read) to `desired`.
pub(crate) fn tag_changes(
    live: Option<&Value>,
    desired: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let live = tag_map(live);
    let set = desired
        .iter()
        .filter(|(k, v)| live.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = live
        .keys()
        .filter(|k| !desired.contains_key(*k))
        .cloned()
        .collect();
    (set, remove)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::test_support;
    use serde_json::json;

    #[test]
    fn tags_to_set_only_returns_missing_or_different_values() {
        let desired = json!({"orderflow:stack": "shop", "team": "orders", "env": "dev"});
        let live = json!({"orderflow:stack": "shop", "team": "billing"});
        let set = tags_to_set(&desired, Some(&live));
        assert_eq!(
            set,
            BTreeMap::from([
                ("env".to_string(), "dev".to_string()),
                ("team".to_string(), "orders".to_string()),
            ])
        );
        assert!(tags_to_set(&desired, Some(&desired)).is_empty());
        assert_eq!(tags_to_set(&desired, None).len(), 3);
    }

    #[test]
    fn live_tags_keep_only_managed_keys() {
        let ctx = test_support::test_ctx(test_support::spec());
        let live = BTreeMap::from([
            ("orderflow:stack".to_string(), "shop".to_string()),
            ("team".to_string(), "billing".to_string()),
            ("cost-center".to_string(), "42".to_string()),
        ]);
        assert_eq!(
            live_managed_tags(&ctx, &live),
            json!({"orderflow:stack": "shop", "team": "billing"})
        );
        assert_eq!(
            desired_tags(&ctx),
            json!({"orderflow:stack": "shop", "team": "orders"})
        );
    }

    #[test]
    fn tag_changes_sets_only_differing_managed_tags() {
        let live = json!({"orderflow:stack": "shop", "team": "old"});
        let desired = BTreeMap::from([
            ("orderflow:stack".to_string(), "shop".to_string()),
            ("team".to_string(), "new".to_string()),
            ("cost".to_string(), "42".to_string()),
        ]);
        let (set, remove) = tag_changes(Some(&live), &desired);
        assert_eq!(
            set,
            BTreeMap::from([
                ("cost".to_string(), "42".to_string()),
                ("team".to_string(), "new".to_string()),
            ])
        );
        assert!(remove.is_empty());
    }

    #[test]
    fn tag_changes_removes_live_keys_no_longer_desired() {
        let live = json!({"orderflow:stack": "shop", "gone": "x"});
        let desired = BTreeMap::from([("orderflow:stack".to_string(), "shop".to_string())]);
        let (set, remove) = tag_changes(Some(&live), &desired);
        assert!(set.is_empty());
        assert_eq!(remove, vec!["gone".to_string()]);
        let (set, _) = tag_changes(None, &desired);
        assert_eq!(set, desired);
    }
}
