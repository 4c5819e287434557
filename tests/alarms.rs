//! `alarms:`: every declared alarm reads back as declared (metric, dimensions resolved to the
//! stack's physical names, threshold, period, actions = the alerts topic, ownership tag); an
//! alarm going into ALARM reaches a subscriber of the alerts topic and makes `status` exit 6;
//! an alarm of the same name the stack does not own is refused, never overwritten; `down`
//! deletes the stack's alarms and only those.

mod common;
#[path = "common/stack.rs"]
mod stack;

use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::StateValue;
use common::TestEmulator;
use serde_json::Value;
use stack::{stderr, stdout, Stack};

#[tokio::test]
async fn alarms_read_back_notify_the_alerts_topic_and_leave_with_down() {
    let emu = TestEmulator::start();
    let stack = Stack::new(
        &emu,
        "alarms",
        &[
            ("queues:\n", "queues:\n  alert-inbox: {}\n"),
            (
                "display_name: \"orderflow alarms\"\n    subscriptions: []",
                "display_name: \"orderflow alarms\"\n    subscriptions: [{ queue: alert-inbox, raw_message_delivery: true }]",
            ),
        ],
    );
    let up = stack.up();
    let config = stack.config().await;
    let cw = aws_sdk_cloudwatch::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let spec = orderflow::spec::load(&stack.pipeline_path()).unwrap();
    let topic_arn = up["outputs"]["topics"]["alerts"]["arn"]
        .as_str()
        .unwrap_or_else(|| panic!("no alerts topic ARN in {up}"))
        .to_string();
    let api_id = up["outputs"]["apis"]["orders"]["id"]
        .as_str()
        .map(str::to_string);

    // Read back every declared alarm.
    let names: Vec<String> = spec.alarms.keys().map(|a| stack.physical(a)).collect();
    assert_eq!(names.len(), 13);
    let described = cw
        .describe_alarms()
        .set_alarm_names(Some(names.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(described.metric_alarms().len(), names.len());
    for a in described.metric_alarms() {
        let logical = a
            .alarm_name()
            .unwrap()
            .strip_prefix(&format!("{}-", stack.name))
            .unwrap();
        let declared = &spec.alarms[logical];
        let (namespace, metric, statistic) = declared.metric.cloudwatch();
        assert_eq!(a.namespace(), Some(namespace), "{logical}");
        assert_eq!(a.metric_name(), Some(metric), "{logical}");
        assert_eq!(
            a.statistic().map(|s| s.as_str()),
            Some(statistic),
            "{logical}"
        );
        assert_eq!(
            a.threshold(),
            Some(f64::from(declared.threshold)),
            "{logical}"
        );
        assert_eq!(a.period(), Some(declared.period_secs as i32), "{logical}");
        assert_eq!(
            a.alarm_actions(),
            std::slice::from_ref(&topic_arn),
            "{logical}"
        );
        assert_eq!(
            a.ok_actions(),
            std::slice::from_ref(&topic_arn),
            "{logical}"
        );
        assert_eq!(a.treat_missing_data(), Some("notBreaching"), "{logical}");
        let dims: Vec<(String, String)> = a
            .dimensions()
            .iter()
            .map(|d| {
                (
                    d.name().unwrap().to_string(),
                    d.value().unwrap().to_string(),
                )
            })
            .collect();
        let watched = stack.physical(&declared.watched.name);
        match namespace {
            "AWS/SQS" => assert_eq!(dims, [("QueueName".into(), watched)], "{logical}"),
            "AWS/Lambda" => assert_eq!(dims, [("FunctionName".into(), watched)], "{logical}"),
            _ => {
                assert!(
                    dims.contains(&("ApiId".into(), api_id.clone().expect("the API's id"))),
                    "{logical}: {dims:?}"
                );
                assert!(
                    dims.contains(&("Stage".into(), "$default".into())),
                    "{dims:?}"
                );
            }
        }
        let tags = cw
            .list_tags_for_resource()
            .resource_arn(a.alarm_arn().unwrap())
            .send()
            .await
            .unwrap();
        assert!(
            tags.tags()
                .iter()
                .any(|t| t.key() == Some("orderflow:stack")
                    && t.value() == Some(stack.name.as_str())),
            "{logical}: {:?}",
            tags.tags()
        );
    }
    // Nothing to change on a second run.
    let again = stack.up();
    assert_eq!(again["api_calls"]["writes"], 0, "{again}");
    // One DescribeAlarms for the whole stack, not one per alarm.
    assert_eq!(
        again["api_calls"]["by_operation"]["CloudWatch.DescribeAlarms"], 1,
        "{again}"
    );

    // Forced into ALARM: the subscriber of the alerts topic hears of it, and status exits 6.
    let dlq_alarm = stack.physical("orders-dlq-not-empty");
    cw.set_alarm_state()
        .alarm_name(&dlq_alarm)
        .state_value(StateValue::Alarm)
        .state_reason("test: forced")
        .send()
        .await
        .unwrap();
    let inbox = stack.queue_url(&sqs, "alert-inbox").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let notice: Value = loop {
        let got = sqs
            .receive_message()
            .queue_url(&inbox)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if let Some(body) = got.messages().first().and_then(|m| m.body()) {
            break serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        }
        assert!(
            Instant::now() < deadline,
            "no alarm notification within 30 s"
        );
    };
    assert_eq!(notice["AlarmName"], dlq_alarm.as_str(), "{notice}");
    assert_eq!(notice["NewStateValue"], "ALARM", "{notice}");
    let status = stack.run(&["status"]);
    assert_eq!(status.status.code(), Some(6), "{}", stdout(&status));
    assert!(
        stdout(&status).contains(&format!("alarm {dlq_alarm} is in ALARM")),
        "{}",
        stdout(&status)
    );

    // An alarm of a declared name that the stack does not own: refused, left as it is.
    let foreign = stack.physical("not-ours");
    cw.put_metric_alarm()
        .alarm_name(&foreign)
        .namespace("Custom")
        .metric_name("Anything")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(3.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    stack.edit(
        "alarms:\n",
        "alarms:\n  not-ours:\n    function: get-order\n    metric: errors\n",
    );
    let refused = stack.run(&["up", "--yes"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stdout(&refused));
    assert!(stderr(&refused).contains(&foreign), "{}", stderr(&refused));
    let still = cw
        .describe_alarms()
        .alarm_names(&foreign)
        .send()
        .await
        .unwrap();
    assert_eq!(still.metric_alarms()[0].namespace(), Some("Custom"));
    stack.edit(
        "alarms:\n  not-ours:\n    function: get-order\n    metric: errors\n",
        "alarms:\n",
    );

    // down deletes the stack's alarms; the foreign one stays.
    let down = stack.run(&["down", "--yes"]);
    assert!(down.status.success(), "{}", stderr(&down));
    let left = cw
        .describe_alarms()
        .alarm_name_prefix(format!("{}-", stack.name))
        .send()
        .await
        .unwrap();
    let left: Vec<&str> = left
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name())
        .collect();
    assert_eq!(left, [foreign.as_str()]);
}
