mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { region = "us-east-1" }
  }
  # Real policy JSON is rendered by the provider; the mock returns a valid
  # document so that the roles plan. The tests read the statements instead.
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  name_prefix = "aurora-batch-test"
  function_names = {
    replication     = "aurora-batch-test-replication"
    s3_cleanup      = "aurora-batch-test-s3-cleanup"
    watermark_admin = "aurora-batch-test-watermark-admin"
  }
  dead_letter_queue_arns = {
    replication     = "arn:aws:sqs:us-east-1:123456789012:aurora-batch-test-replication-dlq"
    s3_cleanup      = "arn:aws:sqs:us-east-1:123456789012:aurora-batch-test-s3-cleanup-dlq"
    watermark_admin = "arn:aws:sqs:us-east-1:123456789012:aurora-batch-test-watermark-admin-dlq"
  }
  staging_bucket_arn                 = "arn:aws:s3:::aurora-batch-test-staging"
  staging_prefix                     = "staging/"
  kms_key_arn                        = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  state_table_arn                    = "arn:aws:dynamodb:us-east-1:123456789012:table/aurora-batch-test-state"
  snowflake_storage_aws_iam_user_arn = "arn:aws:iam::999999999999:user/abc1-b-self1234"
  snowflake_storage_external_id      = "XY12345_SFCRole=2_abcdefghijklmnop="
}

run "one_role_per_function" {
  command = plan

  assert {
    condition     = toset(keys(aws_iam_role.this)) == toset(["replication", "s3_cleanup", "watermark_admin"])
    error_message = "Each function must have its own role."
  }

  assert {
    condition     = aws_iam_role.this["replication"].name == "aurora-batch-test-replication-role"
    error_message = "Role names must follow the function names."
  }
}

run "no_wildcard_actions_and_no_wildcard_data_resources" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for document in concat([data.aws_iam_policy_document.staging_list, data.aws_iam_policy_document.replication, data.aws_iam_policy_document.s3_cleanup, data.aws_iam_policy_document.watermark_admin, data.aws_iam_policy_document.snowflake_storage], values(data.aws_iam_policy_document.key_use)) : [
        for statement in document.statement : [for action in statement.actions : !strcontains(action, "*")]
      ]
    ]))
    error_message = "No data-access policy may use a wildcard action."
  }

  assert {
    condition = alltrue(flatten([
      for document in concat([data.aws_iam_policy_document.staging_list, data.aws_iam_policy_document.replication, data.aws_iam_policy_document.s3_cleanup, data.aws_iam_policy_document.watermark_admin, data.aws_iam_policy_document.snowflake_storage], values(data.aws_iam_policy_document.key_use)) : [
        for statement in document.statement : [for resource in statement.resources : resource != "*"]
      ]
    ]))
    error_message = "No data-access policy may apply to every resource."
  }
}

run "replication_is_limited_to_its_prefix_table_and_self" {
  command = plan

  assert {
    condition = toset(flatten([
      for statement in data.aws_iam_policy_document.replication.statement : statement.resources if statement.sid == "StagingObjects"
    ])) == toset(["arn:aws:s3:::aurora-batch-test-staging/staging/*"])
    error_message = "Object access must be limited to the staging prefix."
  }

  assert {
    condition = toset(flatten([
      for statement in data.aws_iam_policy_document.replication.statement : statement.resources if statement.sid == "InvokeSelf"
      ])) == toset([
      "arn:aws:lambda:us-east-1:123456789012:function:aurora-batch-test-replication",
      "arn:aws:lambda:us-east-1:123456789012:function:aurora-batch-test-replication:*",
    ])
    error_message = "The replication function may invoke itself (any alias or version) and nothing else."
  }

  assert {
    condition = toset(flatten([
      for statement in data.aws_iam_policy_document.replication.statement : statement.actions if statement.sid == "StateReadWrite"
    ])) == toset(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"])
    error_message = "The replication role needs exactly the state actions of the state store."
  }
}

run "key_is_used_only_through_the_data_services" {
  command = plan

  assert {
    condition = (
      toset(data.aws_iam_policy_document.key_use["s3_cleanup"].statement[0].actions) == toset(["kms:Decrypt"]) &&
      toset(one(data.aws_iam_policy_document.key_use["snowflake_storage"].statement[0].condition).values) == toset(["s3.us-east-1.amazonaws.com"]) &&
      toset(one(data.aws_iam_policy_document.key_use["replication"].statement[0].condition).values) == toset(["s3.us-east-1.amazonaws.com", "dynamodb.us-east-1.amazonaws.com"])
    )
    error_message = "Each role may use the key only through S3 or DynamoDB, and cleanup and Snowflake only to decrypt."
  }
}

run "cleanup_reads_state_only" {
  command = plan

  assert {
    condition = toset(flatten([
      for statement in data.aws_iam_policy_document.s3_cleanup.statement : statement.actions if startswith(statement.sid, "State")
    ])) == toset(["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"])
    error_message = "The cleanup role may only read the state table."
  }
}

run "snowflake_role_reads_the_prefix_with_external_id" {
  command = plan

  assert {
    condition = anytrue([
      for condition in data.aws_iam_policy_document.snowflake_assume[0].statement[0].condition :
      condition.variable == "sts:ExternalId" && contains(condition.values, "XY12345_SFCRole=2_abcdefghijklmnop=")
    ])
    error_message = "Snowflake may assume the role only with the integration's external ID."
  }

  assert {
    condition = toset(flatten([
      for statement in data.aws_iam_policy_document.snowflake_storage.statement : statement.actions if statement.sid == "StagedObjectsRead"
    ])) == toset(["s3:GetObject", "s3:GetObjectVersion"])
    error_message = "Snowflake may only read the staged objects."
  }

  assert {
    condition = anytrue([
      for condition in data.aws_iam_policy_document.staging_list.statement[0].condition :
      condition.variable == "s3:prefix" && contains(condition.values, "staging/*")
    ])
    error_message = "Listing must be limited to the staging prefix."
  }

  assert {
    condition     = output.snowflake_storage_role_arn == "arn:aws:iam::123456789012:role/aurora-batch-test-snowflake-storage"
    error_message = "The storage role ARN must be known from its name."
  }
}

run "snowflake_role_can_be_left_out" {
  command = plan

  variables {
    create_snowflake_storage_role      = false
    snowflake_storage_aws_iam_user_arn = null
    snowflake_storage_external_id      = null
  }

  assert {
    condition     = length(aws_iam_role.snowflake_storage) == 0
    error_message = "No storage role when it is not asked for."
  }
}

run "snowflake_role_needs_its_trust" {
  command = plan

  variables {
    snowflake_storage_external_id = null
  }

  expect_failures = [var.create_snowflake_storage_role]
}
