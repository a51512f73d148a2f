# One customer managed key per environment. It encrypts the staging bucket, the
# state table, the Lambda log groups, the failure queues and the alarm topic.
data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  root_arn   = "arn:${local.partition}:iam::${local.account_id}:root"
}

resource "aws_kms_key" "this" {
  description             = "${var.name_prefix}: staging objects, state table, logs, failure queues and alarm topic"
  enable_key_rotation     = true
  deletion_window_in_days = var.deletion_window_in_days

  # Written inline rather than as aws_iam_policy_document: in a key policy "*" as
  # the resource means this key only, which identity-policy scanners misread.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # The recovery path AWS asks every key policy to keep: account principals
        # with IAM permission may read and replace the key policy, nothing else.
        # Without it, losing the administrator roles would orphan the key.
        Sid       = "AccountKeyPolicyRecovery"
        Effect    = "Allow"
        Principal = { AWS = local.root_arn }
        Action    = ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy"]
        Resource  = "*"
      },
      {
        # Manage the key, never use it on data.
        Sid       = "KeyAdministrators"
        Effect    = "Allow"
        Principal = { AWS = var.key_administrator_arns }
        Action = [
          "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
          "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
          "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand",
        ]
        Resource = "*"
      },
      {
        # Use the key, never manage it. Named by aws:PrincipalArn rather than as
        # principals: the roles are created after the key and some only later
        # (the Snowflake storage role), and KMS refuses principals that do not exist.
        Sid       = "KeyUsers"
        Effect    = "Allow"
        Principal = { AWS = local.root_arn }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource  = "*"
        Condition = {
          ArnEquals = { "aws:PrincipalArn" = var.key_user_arns }
        }
      },
      {
        Sid       = "CloudWatchLogsEncryption"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnEquals = { "kms:EncryptionContext:aws:logs:arn" = var.log_group_arns }
        }
      },
      {
        # CloudWatch alarms publish to the encrypted SNS topic.
        Sid       = "CloudWatchAlarmsPublish"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
        }
      },
    ]
  })

  tags = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.this.key_id
}
