//! DynamoDB store (issue 3).
