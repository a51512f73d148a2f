data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region

  function_names         = tomap(var.function_names)
  dead_letter_queue_arns = tomap(var.dead_letter_queue_arns)
  function_arns = {
    for key, name in local.function_names : key => "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${name}"
  }
  # Lambda writes to /aws/lambda/<function name>; the lambda_function module creates that group.
  log_group_arns = {
    for key, name in local.function_names : key => "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${name}"
  }

  staging_objects_arn = "${var.staging_bucket_arn}/${var.staging_prefix}*"
  # Partition keys of the admin audit records (AUDIT_PARTITION_PREFIX in
  # shared/aurora_batch/adapters/state_store/admin.py): append-only, the admin role's alone.
  audit_partition_keys = ["AUDIT#*"]
  # Use of the environment's key, only through the services that hold the data.
  key_use = {
    replication       = { actions = ["kms:Decrypt", "kms:GenerateDataKey"], services = ["s3", "dynamodb"] }
    s3_cleanup        = { actions = ["kms:Decrypt"], services = ["dynamodb"] }
    watermark_admin   = { actions = ["kms:Decrypt", "kms:GenerateDataKey"], services = ["dynamodb"] }
    snowflake_storage = { actions = ["kms:Decrypt"], services = ["s3"] }
  }

  # Built from the names, like the Snowflake role below, so that the key policy can
  # name the roles before they exist.
  lambda_role_arns = {
    for key, name in local.function_names : key => "arn:${local.partition}:iam::${local.account_id}:role/${name}-role"
  }

  snowflake_storage_role_name = "${var.name_prefix}-snowflake-storage"
  # Built from the name so that the Snowflake integration can name the role
  # before the role (which trusts the integration) exists.
  snowflake_storage_role_arn = "arn:${local.partition}:iam::${local.account_id}:role/${local.snowflake_storage_role_name}"

  data_access_policies = {
    replication     = data.aws_iam_policy_document.replication.json
    s3_cleanup      = data.aws_iam_policy_document.s3_cleanup.json
    watermark_admin = data.aws_iam_policy_document.watermark_admin.json
  }
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# One execution role per function.
resource "aws_iam_role" "this" {
  for_each = local.function_names

  name                 = "${each.value}-role" # local.lambda_role_arns builds the ARN from this name.
  description          = "Execution role of the ${each.value} Lambda function"
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  max_session_duration = 3600
  tags                 = var.tags
}

# What every function needs to run: its own log group, its failure queue, X-Ray
# and the network interfaces of a VPC function.
data "aws_iam_policy_document" "runtime" {
  #checkov:skip=CKV_AWS_111:Only X-Ray and EC2 network-interface actions are on "*"; neither offers a narrower resource.
  #checkov:skip=CKV_AWS_356:Only X-Ray and EC2 network-interface actions are on "*"; Lambda checks the ENI permissions against "*" when it creates a VPC function.
  for_each = local.function_names

  statement {
    sid       = "OwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arns[each.key]}:*"]
  }

  statement {
    sid       = "OnFailureDestination"
    actions   = ["sqs:SendMessage"]
    resources = [local.dead_letter_queue_arns[each.key]]
  }

  statement {
    # The failure queue is encrypted with the environment's key; Lambda sends the
    # failure record with the execution role.
    sid       = "OnFailureDestinationKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sqs.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "XRay"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources = ["*"]
  }

  statement {
    # The same actions as the AWSLambdaVPCAccessExecutionRole managed policy,
    # without its logs:* on every log group. EC2 offers no narrower resource here.
    sid = "VpcNetworkInterfaces"
    actions = [
      "ec2:CreateNetworkInterface",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeSubnets",
      "ec2:DeleteNetworkInterface",
      "ec2:AssignPrivateIpAddresses",
      "ec2:UnassignPrivateIpAddresses",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "runtime" {
  for_each = local.function_names

  name   = "runtime"
  role   = aws_iam_role.this[each.key].id
  policy = data.aws_iam_policy_document.runtime[each.key].json
}

# Listing is limited to the staging prefix; replication, cleanup and Snowflake include it.
data "aws_iam_policy_document" "staging_list" {
  statement {
    sid       = "StagingList"
    actions   = ["s3:ListBucket"]
    resources = [var.staging_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.staging_prefix}*"]
    }
  }
}

data "aws_iam_policy_document" "key_use" {
  for_each = local.key_use

  statement {
    sid       = "EncryptionKey"
    actions   = each.value.actions
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [for service in each.value.services : "${service}.${local.region}.amazonaws.com"]
    }
  }
}

# Replication: stage, read back and delete parts under the staging prefix;
# read and write its state; invoke itself (continuation and fan-out).
data "aws_iam_policy_document" "replication" {
  source_policy_documents = [data.aws_iam_policy_document.staging_list.json, data.aws_iam_policy_document.key_use["replication"].json]

  statement {
    sid       = "StagingObjects"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [local.staging_objects_arn]
  }

  statement {
    sid       = "StateReadWrite"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"]
    resources = [var.state_table_arn]
  }

  # A run never writes or deletes an admin audit record.
  statement {
    sid       = "NoAuditWrites"
    effect    = "Deny"
    actions   = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]
    resources = [var.state_table_arn]

    condition {
      test     = "ForAnyValue:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = local.audit_partition_keys
    }
  }

  statement {
    sid       = "InvokeSelf"
    actions   = ["lambda:InvokeFunction"]
    resources = [local.function_arns.replication, "${local.function_arns.replication}:*"]
  }
}

# Cleanup: list and delete staged parts; read the state (to spare runs in progress).
data "aws_iam_policy_document" "s3_cleanup" {
  source_policy_documents = [data.aws_iam_policy_document.staging_list.json, data.aws_iam_policy_document.key_use["s3_cleanup"].json]

  statement {
    sid       = "StagingDelete"
    actions   = ["s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [local.staging_objects_arn]
  }

  statement {
    sid       = "StagingUploads"
    actions   = ["s3:ListBucketMultipartUploads"]
    resources = [var.staging_bucket_arn]
  }

  statement {
    sid       = "StateRead"
    actions   = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"]
    resources = [var.state_table_arn]
  }
}

# Watermark admin: read and change the state, and append audit records. No DeleteItem: an
# audit record, once written, is only ever removed by the table's TTL.
data "aws_iam_policy_document" "watermark_admin" {
  source_policy_documents = [data.aws_iam_policy_document.key_use["watermark_admin"].json]

  statement {
    sid       = "StateRead"
    actions   = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"]
    resources = [var.state_table_arn]
  }

  statement {
    sid       = "StateWriteAndAuditAppend"
    actions   = ["dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [var.state_table_arn]
  }

  # Audit records are put once (on the condition that the key is new), never updated.
  statement {
    sid       = "NoAuditUpdates"
    effect    = "Deny"
    actions   = ["dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]
    resources = [var.state_table_arn]

    condition {
      test     = "ForAnyValue:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = local.audit_partition_keys
    }
  }
}

resource "aws_iam_role_policy" "data_access" {
  for_each = local.function_names

  name   = "data-access"
  role   = aws_iam_role.this[each.key].id
  policy = local.data_access_policies[each.key]
}

# The role the Snowflake storage integration assumes to read staged files.
data "aws_iam_policy_document" "snowflake_assume" {
  count = var.create_snowflake_storage_role ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = [var.snowflake_storage_aws_iam_user_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [var.snowflake_storage_external_id]
    }
  }
}

resource "aws_iam_role" "snowflake_storage" {
  count = var.create_snowflake_storage_role ? 1 : 0

  name                 = local.snowflake_storage_role_name
  description          = "Assumed by the Snowflake storage integration to read staged files"
  assume_role_policy   = data.aws_iam_policy_document.snowflake_assume[0].json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "snowflake_storage" {
  source_policy_documents = [data.aws_iam_policy_document.staging_list.json, data.aws_iam_policy_document.key_use["snowflake_storage"].json]

  statement {
    sid       = "StagedObjectsRead"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = [local.staging_objects_arn]
  }

  statement {
    # Snowflake asks for the bucket's region before it lists; no object data.
    sid       = "BucketLocation"
    actions   = ["s3:GetBucketLocation"]
    resources = [var.staging_bucket_arn]
  }
}

resource "aws_iam_role_policy" "snowflake_storage" {
  count = var.create_snowflake_storage_role ? 1 : 0

  name   = "staging-read"
  role   = aws_iam_role.snowflake_storage[0].id
  policy = data.aws_iam_policy_document.snowflake_storage.json
}
