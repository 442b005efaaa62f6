//! The table and the secret, created on a local AWS endpoint (moto's server) from the
//! template's own definitions.
//!
//! A CloudFormation `AWS::DynamoDB::Table`'s properties are, key for key, DynamoDB's
//! `CreateTable` request (table name aside), except the settings CloudFormation applies with
//! other calls: `TimeToLiveSpecification` (`UpdateTimeToLive`) and the two the local endpoint
//! has no use for (`PointInTimeRecoverySpecification`, `SSESpecification`). So the template's
//! block is sent as it is written, through DynamoDB's JSON protocol, rather than re-typed into
//! the SDK's builders field by field. Requests carry a placeholder SigV4 `Authorization`
//! header: the local endpoint reads the region and the service from it and checks nothing.

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// A JSON-protocol client for a local AWS endpoint.
pub struct LocalAws {
    http: reqwest::Client,
    endpoint: String,
}

impl LocalAws {
    pub fn new(endpoint: &str) -> anyhow::Result<LocalAws> {
        Ok(LocalAws {
            http: wxopen::https::reqwest_client()?,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        })
    }

    async fn call(&self, service: &str, target: &str, body: Value) -> anyhow::Result<Value> {
        let (prefix, content_type) = match service {
            "dynamodb" => ("DynamoDB_20120810", "application/x-amz-json-1.0"),
            _ => ("secretsmanager", "application/x-amz-json-1.1"),
        };
        let resp = self
            .http
            .post(format!("{}/", self.endpoint))
            .header("content-type", content_type)
            .header("x-amz-target", format!("{prefix}.{target}"))
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=local/20250101/{}/{service}/aws4_request, SignedHeaders=host, Signature=0",
                    crate::REGION
                ),
            )
            .body(body.to_string())
            .send()
            .await
            .with_context(|| format!("{service} {target} at {}", self.endpoint))?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            // The error's type and message only: a request body may hold the secret.
            bail!(
                "{service} {target} answered {status}: {} {}",
                v["__type"].as_str().unwrap_or(""),
                v["message"]
                    .as_str()
                    .or(v["Message"].as_str())
                    .unwrap_or("")
            );
        }
        Ok(v)
    }

    /// Creates table `name` from the template's resolved `Properties`; answers its ARN.
    pub async fn create_table(&self, name: &str, properties: &Value) -> anyhow::Result<String> {
        let mut request = properties
            .as_object()
            .context("the table's Properties are not a mapping")?
            .clone();
        let ttl = request.remove("TimeToLiveSpecification");
        request.remove("PointInTimeRecoverySpecification");
        request.remove("SSESpecification");
        request.remove("TableName");
        request.insert("TableName".into(), json!(name));
        let created = self
            .call("dynamodb", "CreateTable", Value::Object(request))
            .await?;
        if let Some(ttl) = ttl {
            self.call(
                "dynamodb",
                "UpdateTimeToLive",
                json!({ "TableName": name, "TimeToLiveSpecification": ttl }),
            )
            .await?;
        }
        created["TableDescription"]["TableArn"]
            .as_str()
            .map(str::to_owned)
            .context("CreateTable answered no TableArn")
    }

    /// Creates secret `name` holding `value`; answers its ARN (what `!Ref` gives).
    pub async fn create_secret(&self, name: &str, value: &str) -> anyhow::Result<String> {
        let created = self
            .call(
                "secretsmanager",
                "CreateSecret",
                json!({ "Name": name, "SecretString": value }),
            )
            .await?;
        created["ARN"]
            .as_str()
            .map(str::to_owned)
            .context("CreateSecret answered no ARN")
    }

    /// Item (`pk`, `sk`) of table `name`, in DynamoDB's attribute-value JSON (`Null` when
    /// absent): what a test reads to see what the functions stored.
    pub async fn get_item(&self, name: &str, pk: &str, sk: &str) -> anyhow::Result<Value> {
        let got = self
            .call(
                "dynamodb",
                "GetItem",
                json!({ "TableName": name, "Key": { "pk": { "S": pk }, "sk": { "S": sk } }, "ConsistentRead": true }),
            )
            .await?;
        Ok(got["Item"].clone())
    }
}
