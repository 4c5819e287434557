//! AWS clients for one run: endpoint, region and profile from the command line or the standard
//! chain, SDK retries for throttling, and a log of every API call (to prove `up` on an unchanged
//! pipeline writes nothing).

use std::sync::{Arc, Mutex};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Where and as whom to call AWS.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// Custom endpoint (the local emulator); `AWS_ENDPOINT_URL` is honoured by the SDK too.
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
    /// Local emulator: use fixed test credentials instead of the credential chain, so a laptop
    /// without an AWS account (or with real credentials in the environment) never signs with real keys.
    pub local: bool,
}

/// One API call as seen by the SDK (once per operation, not per retry attempt).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Call {
    pub service: String,
    pub operation: String,
}

impl Call {
    /// Reads are Get*/List*/Describe*/Simulate*/Head* (S3's HeadBucket); everything else
    /// changes state.
    pub fn is_write(&self) -> bool {
        !["Get", "List", "Describe", "Simulate", "Head"]
            .iter()
            .any(|p| self.operation.starts_with(p))
    }
}

/// Shared log of API calls made through [`Clients`].
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<Call>>>);

impl CallLog {
    pub fn calls(&self) -> Vec<Call> {
        self.0.lock().expect("call log poisoned").clone()
    }

    pub fn writes(&self) -> Vec<Call> {
        self.calls().into_iter().filter(Call::is_write).collect()
    }
}

#[derive(Debug)]
struct RecordCalls(CallLog);

impl Intercept for RecordCalls {
    fn name(&self) -> &'static str {
        "orderflow::RecordCalls"
    }

    // Once per operation (not per attempt), after the operation's metadata is in the config bag
    // (client-level `read_before_execution` runs before it is).
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            self.0 .0.lock().expect("call log poisoned").push(Call {
                service: m.service().to_string(),
                operation: m.name().to_string(),
            });
        }
        Ok(())
    }
}

/// The service clients orderflow uses, sharing one configuration and one call log.
#[derive(Debug, Clone)]
pub struct Clients {
    pub apigateway: aws_sdk_apigatewayv2::Client,
    /// Metric alarms and their states.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// Function log groups and their events.
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// The EventBridge schema registry.
    pub schemas: aws_sdk_schemas::Client,
    /// EventBridge Pipes: a table's change events.
    pub pipes: aws_sdk_pipes::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub ses: aws_sdk_sesv2::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub iam: aws_sdk_iam::Client,
    /// Resource Groups Tagging API: a stack's tags in one listing while planning.
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    /// Buckets and their objects (path-style at a custom endpoint: an emulator on 127.0.0.1
    /// has no per-bucket host names).
    pub s3: aws_sdk_s3::Client,
    pub calls: CallLog,
    /// Partition and account of the caller, once learnt (`Ctx::partition_and_account`).
    pub caller: Arc<Mutex<Option<(String, String)>>>,
    /// Who the run acts as, from the identity check (`commands::connect`).
    pub identity: Option<crate::identity::Identity>,
    /// Reads shared while a plan is made (`plan` turns it on and off).
    pub reads: Arc<crate::resources::reads::Reads>,
    /// The region the clients talk to.
    pub region: String,
    /// True when an explicit endpoint (e.g. the local emulator) is used.
    pub custom_endpoint: bool,
}

/// Load the shared SDK configuration: standard credential chain, the given overrides,
/// and standard-mode retries: up to 8 attempts with exponential backoff and jitter on
/// throttling, 5xx and dropped connections. How many resources are worked on at once is bounded
/// by `--parallelism`, which is what keeps a large pipeline from throttling itself.
///
/// Not adaptive mode: its client-side rate limiter drops to about 0.5 requests per second after a
/// single throttle and recovers slowly. Measured with the fault proxy (tests/faults.rs), one
/// throttle per operation turned a 2 s `up` into 270–480 s, where standard mode took seconds.
pub async fn load_config(target: &Target, default_region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(8))
        // A connection that never answers must not hang a run forever: each attempt gives up
        // (and is retried) after these. Generous for the largest call, a function upload.
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(10))
                .operation_attempt_timeout(std::time::Duration::from_secs(120))
                .build(),
        );
    if let Some(p) = &target.profile {
        loader = loader.profile_name(p);
    }
    if target.local {
        loader = loader.credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "orderflow-local",
        ));
    }
    if let Some(url) = &target.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(r) = &target.region {
        loader = loader.region(Region::new(r.clone()));
    }
    let mut config = loader.load().await;
    if config.region().is_none() {
        let region = default_region.unwrap_or("us-east-1").to_string();
        config = config.into_builder().region(Region::new(region)).build();
    }
    config
}

impl Clients {
    pub async fn new(target: &Target, default_region: Option<&str>) -> Clients {
        let config = load_config(target, default_region).await;
        Clients::from_config(&config)
    }

    pub fn from_config(config: &SdkConfig) -> Clients {
        let calls = CallLog::default();
        let rec = || RecordCalls(calls.clone());
        Clients {
            apigateway: aws_sdk_apigatewayv2::Client::from_conf(
                aws_sdk_apigatewayv2::config::Builder::from(config)
                    .interceptor(rec())
                    .build(),
            ),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(config)
                    .force_path_style(config.endpoint_url().is_some())
                    .interceptor(rec())
                    .build(),
            ),
            cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(config)
                    .interceptor(rec())
                    .build(),
            ),
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(
                aws_sdk_cloudwatchlogs::config::Builder::from(config)
                    .interceptor(rec())
                    .build(),
            ),
            schemas: aws_sdk_schemas::Client::from_conf(
                aws_sdk_schemas::config::Builder::from(config)
                    .interceptor(rec())
                    .build(),
            ),
            pipes: aws_sdk_pipes::Client::from_conf(
                aws_sdk_pipes::config::Builder::from(config)
                    .interceptor(rec())
                    .build(),
            ),
            events: aws_sdk_eventbridge::Client::from_conf(
                aws_sdk_eventbridge::config::Builder::from(config)
                    .interceptor(rec())
                    .build(),
            ),
            lambda: aws_sdk_lambda::Client::from_conf(
                aws_sdk_lambda::config::Builder::from(config)
                    .interceptor(rec())
                    .build(),
            ),
            ses: aws_sdk_sesv2::Client::from_conf(
                aws_sdk_sesv2::config::Builder::from(config)
                    .interceptor(rec())
                    .build(),
            ),
            sns: aws_sdk_sns::Client::from_conf(
                aws_sdk_sns::config::Builder::from(config)
                    .interceptor(rec())
                    .build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(config)
                    .interceptor(rec())
                    .build(),
            ),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(config)
                    .interceptor(rec())
                    .build(),
            ),
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(config)
                    .interceptor(rec())
                    .build(),
            ),
            tagging: aws_sdk_resourcegroupstagging::Client::from_conf(
                aws_sdk_resourcegroupstagging::config::Builder::from(config)
                    .interceptor(rec())
                    .build(),
            ),
            region: config
                .region()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "us-east-1".into()),
            custom_endpoint: config.endpoint_url().is_some(),
            caller: Arc::default(),
            identity: None,
            reads: Arc::default(),
            calls,
        }
    }
}
