//! Recorded AWS answers for the SDK, for the provider tests of APIs the emulator lacks or
//! cannot make fail (Schemas: registry, schemas, discoverer, `schema events --diff`; Pipes):
//! each request gets the next recorded answer, in order, and is kept for assertions.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use orderflow::aws::Clients;
use orderflow::resources::Ctx;
use serde_json::{json, Value};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

/// (The smithy `StaticReplayClient` would turn on serde_json's `preserve_order` for every test
/// build of the crate: see tests/provider_event_schemas.rs.)
#[derive(Debug, Clone, Default)]
pub struct Replay {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    requests: Arc<Mutex<Vec<(String, String, Value)>>>,
}

#[derive(Debug)]
pub struct Answer {
    status: u16,
    body: Value,
}

/// AWS's answer to one request.
pub fn answer(status: u16, body: Value) -> Answer {
    Answer { status, body }
}

pub fn not_found(what: &str) -> Answer {
    answer(
        404,
        json!({"Code": "NotFoundException", "Message": format!("{what} does not exist.")}),
    )
}

impl Replay {
    pub fn new(answers: Vec<Answer>) -> Replay {
        Replay {
            answers: Arc::new(Mutex::new(answers.into())),
            requests: Arc::default(),
        }
    }

    /// (method, path and query, JSON body or null) of every request made.
    pub fn requests(&self) -> Vec<(String, String, Value)> {
        self.requests.lock().unwrap().clone()
    }

    /// (method, path and query) of every request made.
    pub fn calls(&self) -> Vec<(String, String)> {
        self.requests()
            .into_iter()
            .map(|(m, p, _)| (m, p))
            .collect()
    }

    /// Recorded answers no request used (a test that expects every one to be asked for).
    pub fn unused(&self) -> usize {
        self.answers.lock().unwrap().len()
    }
}

impl HttpConnector for Replay {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let body = request
            .body()
            .bytes()
            .filter(|b| !b.is_empty())
            .map(|b| serde_json::from_slice(b).expect("JSON request body"))
            .unwrap_or(Value::Null);
        let uri = request.uri();
        let after_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
        let path = after_scheme
            .find('/')
            .map_or("/", |i| &after_scheme[i..])
            .to_string();
        self.requests
            .lock()
            .unwrap()
            .push((request.method().to_string(), path.clone(), body));
        let answer = self
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| panic!("no recorded answer for {path}"));
        let text = if answer.body.is_null() {
            String::new()
        } else {
            answer.body.to_string()
        };
        let mut response = HttpResponse::new(
            StatusCode::try_from(answer.status).unwrap(),
            SdkBody::from(text),
        );
        response
            .headers_mut()
            .insert("content-type", "application/json");
        if let Some(code) = answer.body["Code"].as_str() {
            response
                .headers_mut()
                .insert("x-amzn-errortype", code.to_string());
        }
        HttpConnectorFuture::ready(Ok(response))
    }
}

impl HttpClient for Replay {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// A `Ctx` for `pipeline` whose every AWS call is answered by `replay`, in order. `endpoint`: a
/// custom endpoint (a local emulator), as `--local` sets one. The account is known, as after
/// `connect`'s identity call.
pub fn ctx(replay: &Replay, endpoint: Option<&str>, pipeline: &str) -> Ctx {
    let mut config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_schemas::config::SharedCredentialsProvider::new(
            aws_sdk_schemas::config::Credentials::new("test", "test", None, None, "test"),
        ))
        .http_client(replay.clone())
        .retry_config(aws_config::retry::RetryConfig::disabled());
    if let Some(url) = endpoint {
        config = config.endpoint_url(url);
    }
    let aws = Clients::from_config(&config.build());
    *aws.caller.lock().unwrap() = Some(("aws".into(), ACCOUNT.into()));
    Ctx {
        spec: std::sync::Arc::new(
            orderflow::spec::parse("pipeline.yaml", pipeline).expect("valid pipeline"),
        ),
        aws,
        region: REGION.into(),
        artifacts: Default::default(),
        parallelism: 1,
    }
}

/// ARN of the stack `shop`'s bus `bus`.
pub fn bus_arn(bus: &str) -> String {
    format!("arn:aws:events:{REGION}:{ACCOUNT}:event-bus/shop-{bus}")
}
