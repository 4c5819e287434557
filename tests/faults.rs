//! orderflow under the faults real AWS produces and the emulator does not (issue 6): a proxy
//! between orderflow (and the functions) and the emulator injects them (tests/common/fault_proxy.rs).
//!
//! - `error_shapes_*`: each injected error parses in the SDK as the real one does (code, typed
//!   variant, retried or not), so the integration tests exercise orderflow's real error paths.
//! - The lifecycle tests, per scenario and all combined: fresh `up`, an edit and `up`, a clean
//!   `plan`, an order through (bus and HTTP API), `down`, an immediate `up` again and another
//!   order. Pass = every command succeeds, the plan is clean, the orders are processed, and
//!   nothing is duplicated (checked against the emulator directly, not through the proxy).
//!   Each also asserts that its faults fired: a fault that never fired proves nothing.

mod common;
#[path = "common/fault_lifecycle.rs"]
mod fault_lifecycle;
#[path = "common/fault_proxy.rs"]
mod fault_proxy;
#[path = "common/fault_rules.rs"]
mod fault_rules;
#[path = "common/fault_wire.rs"]
mod fault_wire;
#[path = "common/stack.rs"]
mod stack;

use std::io::Write;
use std::time::{Duration, Instant};

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::QueueAttributeName;
use common::TestEmulator;
use fault_lifecycle::{assert_fired, config, lifecycle, Rig};
use fault_proxy::{fault, FaultProxy, Scenario};

// ---------------------------------------------------------------------------------------------
// Error shapes, as the SDK sees them

/// A proxy with `scenario` in front of `emu`.
fn proxy(emu: &TestEmulator, scenario: Scenario) -> FaultProxy {
    let p = FaultProxy::start(scenario);
    p.set_upstream(emu.endpoint());
    p
}

/// Throttle (or fail) only `op`'s first call.
fn first_call(op: &'static str, f: impl FnOnce(&mut Scenario)) -> Scenario {
    let mut s = Scenario {
        only_operations: Some(vec![op]),
        ..Scenario::default()
    };
    f(&mut s);
    s
}

fn throttle_once(op: &'static str) -> Scenario {
    first_call(op, |s| s.throttle_first = 1)
}

/// A zip with one file, for functions the emulator only stores.
fn tiny_zip() -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("index.py", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(b"def handler(event, context):\n    return event\n")
        .unwrap();
    w.finish().unwrap().into_inner()
}

#[tokio::test]
async fn error_shapes_parse_in_the_sdk_as_real_ones_do() {
    let emu = TestEmulator::start();

    // Throttling, per protocol: without retries the code surfaces as AWS sends it; with the
    // SDK's standard retries the call succeeds (it was classified as retryable) after one fault.
    macro_rules! throttled {
        ($client:path, $op:literal, $code:literal, |$c:ident| $call:expr, $variant:pat) => {{
            let p = proxy(&emu, throttle_once($op));
            let $c = <$client>::new(&config(&p.endpoint(), false).await);
            let err = match $call.await {
                Ok(o) => panic!("{} must fail once: {o:?}\n{:?}", $op, p.records()),
                Err(e) => e,
            };
            assert_eq!(err.code(), Some($code), "{:?}", err);
            let svc = err.into_service_error();
            assert!(matches!(svc, $variant), "{svc:?}");
            let p = proxy(&emu, throttle_once($op));
            let $c = <$client>::new(&config(&p.endpoint(), true).await);
            $call
                .await
                .unwrap_or_else(|e| panic!("{} retried: {e:?}", $op));
            assert_eq!(p.fired_on(fault::THROTTLE, $op), 1, "{}", p.summary());
            assert_eq!(p.records().iter().filter(|r| r.operation == $op).count(), 2);
        }};
    }
    use aws_sdk_apigatewayv2::operation::get_apis::GetApisError;
    use aws_sdk_lambda::operation::list_functions::ListFunctionsError;
    use aws_sdk_sesv2::operation::list_email_identities::ListEmailIdentitiesError;
    use aws_sdk_sqs::operation::list_queues::ListQueuesError;
    throttled!(
        aws_sdk_sqs::Client,
        "ListQueues",
        "RequestThrottled",
        |c| c.list_queues().send(),
        ListQueuesError::RequestThrottled(_)
    );
    throttled!(
        aws_sdk_lambda::Client,
        "ListFunctions",
        "TooManyRequestsException",
        |c| c.list_functions().send(),
        ListFunctionsError::TooManyRequestsException(_)
    );
    throttled!(
        aws_sdk_apigatewayv2::Client,
        "GetApis",
        "TooManyRequestsException",
        |c| c.get_apis().send(),
        GetApisError::TooManyRequestsException(_)
    );
    throttled!(
        aws_sdk_sesv2::Client,
        "ListEmailIdentities",
        "TooManyRequestsException",
        |c| c.list_email_identities().send(),
        ListEmailIdentitiesError::TooManyRequestsException(_)
    );
    throttled!(
        aws_sdk_iam::Client,
        "ListRoles",
        "Throttling",
        |c| c.list_roles().send(),
        _
    );
    throttled!(
        aws_sdk_sns::Client,
        "ListTopics",
        "Throttling",
        |c| c.list_topics().send(),
        _
    );
    throttled!(
        aws_sdk_dynamodb::Client,
        "ListTables",
        "ThrottlingException",
        |c| c.list_tables().send(),
        _
    );
    throttled!(
        aws_sdk_resourcegroupstagging::Client,
        "GetResources",
        "ThrottledException",
        |c| c.get_resources().send(),
        _
    );
    // CloudWatch speaks Smithy RPC v2 CBOR: the error is a CBOR map with `__type`.
    throttled!(
        aws_sdk_cloudwatch::Client,
        "DescribeAlarms",
        "ThrottlingException",
        |c| c.describe_alarms().send(),
        _
    );
    throttled!(
        aws_sdk_cloudwatchlogs::Client,
        "DescribeLogGroups",
        "ThrottlingException",
        |c| c.describe_log_groups().send(),
        _
    );
    throttled!(
        aws_sdk_eventbridge::Client,
        "ListEventBuses",
        "ThrottlingException",
        |c| c.list_event_buses().send(),
        _
    );

    // 5xx before and after forwarding: retried by the SDK (transient), codes as documented.
    for (scenario, code) in [
        (
            first_call("ListRoles", |s| s.server_error_before = true),
            "ServiceUnavailable",
        ),
        (
            first_call("ListRoles", |s| s.server_error_after = true),
            "ServiceFailure",
        ),
    ] {
        let p = proxy(&emu, scenario.clone());
        let iam = aws_sdk_iam::Client::new(&config(&p.endpoint(), false).await);
        let err = iam.list_roles().send().await.expect_err("5xx");
        assert_eq!(err.code(), Some(code), "{err:?}");
        let p = proxy(&emu, scenario);
        let iam = aws_sdk_iam::Client::new(&config(&p.endpoint(), true).await);
        iam.list_roles().send().await.expect("retried past the 5xx");
    }
    let p = proxy(&emu, first_call("GetApis", |s| s.server_error_after = true));
    let apigw = aws_sdk_apigatewayv2::Client::new(&config(&p.endpoint(), false).await);
    let err = apigw.get_apis().send().await.expect_err("500");
    assert_eq!(err.code(), Some("InternalFailure"), "{err:?}");
    let p = proxy(
        &emu,
        first_call("ListFunctions", |s| s.server_error_after = true),
    );
    let lambda = aws_sdk_lambda::Client::new(&config(&p.endpoint(), false).await);
    let err = lambda.list_functions().send().await.expect_err("500");
    assert!(
        matches!(
            err.into_service_error(),
            ListFunctionsError::ServiceException(_)
        ),
        "Lambda's 500 is ServiceException"
    );

    // Dropped connections: a transient dispatch failure, retried by the SDK.
    for f in [fault::DROP_BEFORE, fault::DROP_AFTER] {
        let s = first_call("ListQueues", |s| {
            s.drop_before = f == fault::DROP_BEFORE;
            s.drop_after = f == fault::DROP_AFTER;
        });
        let p = proxy(&emu, s.clone());
        let sqs = aws_sdk_sqs::Client::new(&config(&p.endpoint(), false).await);
        let err = sqs.list_queues().send().await.expect_err("dropped");
        match &err {
            // The SDK's connector classifies a closed connection (hyper IncompleteMessage)
            // as a transient error, which the retry strategy retries.
            aws_sdk_sqs::error::SdkError::DispatchFailure(failure) => assert!(
                failure.is_io()
                    || failure.as_other()
                        == Some(aws_smithy_types::retry::ErrorKind::TransientError),
                "{failure:?}"
            ),
            other => panic!("not a dispatch failure: {other:?}"),
        }
        let p = proxy(&emu, s);
        let sqs = aws_sdk_sqs::Client::new(&config(&p.endpoint(), true).await);
        sqs.list_queues()
            .send()
            .await
            .expect("retried past the drop");
        assert_eq!(p.fired(f), 1, "{}", p.summary());
    }

    // SQS: QueueDeletedRecently surfaces with its query code and typed variant, not retried.
    let p = proxy(
        &emu,
        Scenario {
            queue_deleted_recently: Some(Duration::from_secs(5)),
            stale_reads: Some(Duration::from_secs(2)),
            ..Scenario::default()
        },
    );
    let sqs = aws_sdk_sqs::Client::new(&config(&p.endpoint(), true).await);
    let url = sqs
        .create_queue()
        .queue_name("shapes-q")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    sqs.get_queue_url()
        .queue_name("shapes-q")
        .send()
        .await
        .unwrap();
    sqs.delete_queue().queue_url(&url).send().await.unwrap();
    let err = sqs
        .create_queue()
        .queue_name("shapes-q")
        .send()
        .await
        .expect_err("deleted recently");
    assert_eq!(
        err.code(),
        Some("AWS.SimpleQueueService.QueueDeletedRecently"),
        "{err:?}"
    );
    assert!(err.into_service_error().is_queue_deleted_recently());
    assert_eq!(
        p.fired(fault::QUEUE_DELETED_RECENTLY),
        1,
        "not retried by the SDK"
    );
    // ... and reads answer for the deleted queue for a while, then QueueDoesNotExist.
    let stale = sqs
        .get_queue_url()
        .queue_name("shapes-q")
        .send()
        .await
        .expect("a stale answer");
    assert_eq!(stale.queue_url(), Some(url.as_str()));
    assert_eq!(p.fired(fault::STALE_READ), 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match sqs.get_queue_url().queue_name("shapes-q").send().await {
            Ok(_) => assert!(Instant::now() < deadline, "never reported deleted"),
            Err(e) => {
                assert!(e.into_service_error().is_queue_does_not_exist());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Lambda: IAM propagation, Pending, 409 during updates; event source mapping states.
    let p = proxy(
        &emu,
        Scenario {
            iam_propagation: Some(Duration::from_secs(30)),
            lambda_states: Some(Duration::from_secs(3)),
            esm_states: Some(Duration::from_secs(3)),
            ..Scenario::default()
        },
    );
    let cfg = config(&p.endpoint(), true).await;
    let iam = aws_sdk_iam::Client::new(&cfg);
    let lambda = aws_sdk_lambda::Client::new(&cfg);
    let role_doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let fresh = iam
        .create_role()
        .role_name("shapes-fresh")
        .assume_role_policy_document(role_doc)
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    let create = |name: &str, role: &str| {
        lambda
            .create_function()
            .function_name(name)
            .runtime(aws_sdk_lambda::types::Runtime::Python312)
            .handler("index.handler")
            .role(role)
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .zip_file(aws_smithy_types::Blob::new(tiny_zip()))
                    .build(),
            )
            .send()
    };
    let err = create("shapes-f", fresh.arn())
        .await
        .expect_err("propagating");
    assert_eq!(err.code(), Some("InvalidParameterValueException"));
    assert_eq!(
        err.message(),
        Some("The role defined for the function cannot be assumed by Lambda.")
    );
    assert!(err
        .into_service_error()
        .is_invalid_parameter_value_exception());
    // A role created earlier (straight on the emulator) has propagated.
    let direct = aws_sdk_iam::Client::new(&config(emu.endpoint(), true).await);
    let old = direct
        .create_role()
        .role_name("shapes-old")
        .assume_role_policy_document(role_doc)
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    let created = create("shapes-f", old.arn()).await.expect("create");
    assert_eq!(
        created.state(),
        Some(&aws_sdk_lambda::types::State::Pending)
    );
    let err = lambda
        .update_function_configuration()
        .function_name("shapes-f")
        .memory_size(256)
        .send()
        .await
        .expect_err("409 while Pending");
    assert!(
        err.into_service_error().is_resource_conflict_exception(),
        "409 ResourceConflictException"
    );
    let got = lambda
        .get_function()
        .function_name("shapes-f")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.configuration().and_then(|c| c.state()),
        Some(&aws_sdk_lambda::types::State::Pending)
    );
    // Create a queue straight on the emulator for a mapping.
    let direct_sqs = aws_sdk_sqs::Client::new(&config(emu.endpoint(), true).await);
    let qurl = direct_sqs
        .create_queue()
        .queue_name("shapes-esm")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let qarn = direct_sqs
        .get_queue_attributes()
        .queue_url(&qurl)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let esm = lambda
        .create_event_source_mapping()
        .function_name("shapes-f")
        .event_source_arn(&qarn)
        .send()
        .await
        .expect("mapping");
    assert_eq!(esm.state(), Some("Creating"));
    let err = lambda
        .update_event_source_mapping()
        .uuid(esm.uuid().unwrap())
        .batch_size(5)
        .send()
        .await
        .expect_err("in use");
    assert!(
        err.into_service_error().is_resource_in_use_exception(),
        "ResourceInUseException"
    );
    assert!(p.fired(fault::IAM_PROPAGATION) >= 1 && p.fired(fault::LAMBDA_CONFLICT) >= 1);

    // PutEvents: per-entry failures with FailedEntryCount; a resend goes through.
    let p = proxy(
        &emu,
        Scenario {
            put_events_entry_failures: true,
            ..Scenario::default()
        },
    );
    let events = aws_sdk_eventbridge::Client::new(&config(&p.endpoint(), true).await);
    let entry = |n: u32| {
        aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .source("faults.test")
            .detail_type("Shape")
            .detail(format!("{{\"n\":{n}}}"))
            .build()
    };
    let first = events
        .put_events()
        .entries(entry(1))
        .entries(entry(2))
        .send()
        .await
        .unwrap();
    assert_eq!(first.failed_entry_count(), 2);
    let codes: Vec<_> = first.entries().iter().map(|e| e.error_code()).collect();
    assert_eq!(
        codes,
        vec![Some("InternalFailure"), Some("ThrottlingException")]
    );
    let again = events
        .put_events()
        .entries(entry(1))
        .entries(entry(2))
        .send()
        .await
        .unwrap();
    assert_eq!(again.failed_entry_count(), 0);
    assert!(again.entries().iter().all(|e| e.event_id().is_some()));
}

// ---------------------------------------------------------------------------------------------
// The lifecycle under faults

#[tokio::test]
async fn all_faults_combined_full_lifecycle() {
    let rig = Rig::start(Scenario {
        queue_deleted_recently: Some(Duration::from_secs(15)),
        ..Scenario::all()
    });
    lifecycle(&rig, "all-faults").await;
    assert_fired(
        &rig,
        &[
            fault::THROTTLE,
            fault::SERVER_ERROR_BEFORE,
            fault::SERVER_ERROR_AFTER,
            fault::DROP_BEFORE,
            fault::DROP_AFTER,
            fault::IAM_PROPAGATION,
            fault::LAMBDA_PENDING,
            fault::LAMBDA_IN_PROGRESS,
            fault::ESM_TRANSITIONAL,
            fault::QUEUE_DELETED_RECENTLY,
            fault::STALE_READ,
            fault::PUT_EVENTS_ENTRY,
        ],
    );
}

#[tokio::test]
async fn throttling_full_lifecycle() {
    let rig = Rig::start(Scenario {
        throttle_first: 1,
        ..Scenario::default()
    });
    lifecycle(&rig, "throttle").await;
    assert_fired(&rig, &[fault::THROTTLE]);
    for op in ["CreateFunction", "CreateRole", "CreateQueue", "PutEvents"] {
        assert!(
            rig.proxy.fired_on(fault::THROTTLE, op) > 0,
            "{op} never throttled\n{}",
            rig.proxy.summary()
        );
    }
}

#[tokio::test]
async fn server_errors_and_dropped_connections_full_lifecycle() {
    let rig = Rig::start(Scenario {
        server_error_after: true,
        server_error_before: true,
        drop_after: true,
        drop_before: true,
        ..Scenario::default()
    });
    lifecycle(&rig, "transport").await;
    assert_fired(
        &rig,
        &[
            fault::SERVER_ERROR_BEFORE,
            fault::SERVER_ERROR_AFTER,
            fault::DROP_BEFORE,
            fault::DROP_AFTER,
        ],
    );
    // The creates that duplicate when blindly retried met a lost answer after being applied.
    for op in [
        "CreateApi",
        "CreateEventSourceMapping",
        "CreateQueue",
        "CreateRole",
        "AddPermission",
        "CreateIntegration",
    ] {
        assert!(
            rig.proxy.fired_on(fault::SERVER_ERROR_AFTER, op) > 0,
            "no 5xx after {op}\n{}",
            rig.proxy.summary()
        );
    }
}

#[tokio::test]
async fn iam_propagation_and_lambda_states_full_lifecycle() {
    let rig = Rig::start(Scenario {
        iam_propagation: Some(Duration::from_secs(4)),
        lambda_states: Some(Duration::from_secs(3)),
        esm_states: Some(Duration::from_secs(3)),
        ..Scenario::default()
    });
    lifecycle(&rig, "eventual").await;
    assert_fired(
        &rig,
        &[
            fault::IAM_PROPAGATION,
            fault::LAMBDA_PENDING,
            fault::LAMBDA_IN_PROGRESS,
            fault::ESM_TRANSITIONAL,
        ],
    );
    assert!(
        rig.proxy.fired_on(fault::IAM_PROPAGATION, "CreateFunction") > 0,
        "{}",
        rig.proxy.summary()
    );
}

#[tokio::test]
async fn deleted_recently_and_stale_reads_full_lifecycle() {
    let rig = Rig::start(Scenario {
        queue_deleted_recently: Some(Duration::from_secs(15)),
        stale_reads: Some(Duration::from_secs(3)),
        ..Scenario::default()
    });
    lifecycle(&rig, "deletion").await;
    assert_fired(&rig, &[fault::QUEUE_DELETED_RECENTLY, fault::STALE_READ]);
}

#[tokio::test]
async fn put_events_entry_failures_full_lifecycle() {
    let rig = Rig::start(Scenario {
        put_events_entry_failures: true,
        ..Scenario::default()
    });
    lifecycle(&rig, "putevents").await;
    // send-order's OrderPlaced and the functions' status events all met a failed entry.
    assert!(
        rig.proxy.fired(fault::PUT_EVENTS_ENTRY) >= 3,
        "{}",
        rig.proxy.summary()
    );
}
