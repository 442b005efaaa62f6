//! Cross-crate integration tests. DynamoDB and Secrets Manager tests run on the moto_server at
//! `WXOPEN_TEST_AWS_ENDPOINT` (see `helpers::aws_endpoint`).

mod helpers;
mod notify_secrets;
mod notify_sns;
mod onboarding_second_faults;
mod refresher;
mod second_faults_tokens;
mod secrets;
mod store_contract;
mod wechat_sim;
