locals {
  environment = "staging"
  name_prefix = "aurora-batch-${local.environment}"
  tags        = merge(var.tags, { Project = "aurora-batch", Environment = local.environment, ManagedBy = "terraform" })

  function_names = {
    replication     = "${local.name_prefix}-replication"
    s3_cleanup      = "${local.name_prefix}-s3-cleanup"
    watermark_admin = "${local.name_prefix}-watermark-admin"
  }

  # The seed's single table (table_name + schedule_expression) joins the tables map.
  seed_table = var.table_name == null ? {} : {
    "${var.schema_name}.${var.table_name}" = {
      schedule_expression = var.schedule_expression
      mode                = var.replication_mode
      incremental_column  = var.incremental_column
      enabled             = true
    }
  }
  tables = merge(local.seed_table, var.tables)

  vault_port = try(tonumber(regex("^https://[^/:]+:([0-9]+)", var.vault_addr)[0]), 443)

  # The application's Powertools service and namespace (shared/aurora_batch/observability.py):
  # every metric carries service and table dimensions, which the alarms must match.
  common_environment = {
    LOG_LEVEL                    = var.log_level
    POWERTOOLS_SERVICE_NAME      = "aurora-batch"
    POWERTOOLS_METRICS_NAMESPACE = "AuroraBatch"
    STATE_TABLE                  = module.state_table.table_name
  }
  replication_environment = merge(
    local.common_environment,
    {
      VAULT_ADDR                  = var.vault_addr
      VAULT_ROLE                  = var.vault_role
      VAULT_AUTH_MOUNT            = var.vault_auth_mount
      VAULT_SECRET_PATH_AURORA    = var.vault_secret_path_aurora
      VAULT_SECRET_PATH_SNOWFLAKE = var.vault_secret_path_snowflake
      SNOWFLAKE_ENDPOINT          = coalesce(var.snowflake_endpoint, var.snowflake_privatelink_account_url)
      SNOWFLAKE_STAGE             = var.snowflake_stage_name
      REPLICATION_MODE            = var.replication_mode
      BATCH_SIZE                  = tostring(var.batch_size)
      SCHEMA_NAME                 = var.schema_name
      STAGING_BUCKET              = module.staging_bucket.bucket_name
      STAGING_PREFIX              = module.staging_bucket.staging_prefix
      STAGING_FORMAT              = var.staging_format
      # Per-table options for manual runs: the same entries the schedules send.
      TABLES = jsonencode([for key in sort(keys(module.scheduling.table_inputs)) : jsondecode(module.scheduling.table_inputs[key]).tables[0]])
    },
    var.vault_iam_server_id == null ? {} : { VAULT_IAM_SERVER_ID = var.vault_iam_server_id },
    var.incremental_column == null ? {} : { INCREMENTAL_COLUMN = var.incremental_column },
    var.table_name == null ? {} : { TABLE_NAME = var.table_name },
  )
  s3_cleanup_environment = merge(local.common_environment, {
    STAGING_BUCKET = module.staging_bucket.bucket_name
    STAGING_PREFIX = module.staging_bucket.staging_prefix
  })
}

module "kms" {
  source = "../../modules/kms"

  name_prefix = local.name_prefix
}

module "networking" {
  source = "../../modules/networking"

  name_prefix                          = local.name_prefix
  vpc_id                               = var.vpc_id
  aurora_security_group_id             = var.aurora_security_group_id
  aurora_port                          = var.aurora_port
  aurora_endpoint                      = var.aurora_endpoint
  vault_cidr_blocks                    = var.vault_cidr_blocks
  vault_port                           = local.vault_port
  gateway_prefix_list_ids              = module.privatelink.gateway_prefix_list_ids
  snowflake_endpoint_security_group_id = var.snowflake_endpoint_security_group_id
}

module "privatelink" {
  source = "../../modules/privatelink"

  name_prefix                        = local.name_prefix
  vpc_id                             = var.vpc_id
  subnet_ids                         = var.subnet_ids
  route_table_ids                    = var.route_table_ids
  security_group_ids                 = [module.networking.vpc_endpoint_security_group_id]
  snowflake_vpc_endpoint_id          = var.snowflake_vpc_endpoint_id
  snowflake_privatelink_service_name = var.snowflake_privatelink_service_name
  snowflake_privatelink_account_url  = var.snowflake_privatelink_account_url
  snowflake_privatelink_ocsp_url     = var.snowflake_privatelink_ocsp_url
}

module "staging_bucket" {
  source = "../../modules/staging_bucket"

  bucket_name     = var.staging_bucket_name
  staging_prefix  = var.staging_prefix
  kms_key_arn     = module.kms.key_arn
  expiration_days = var.staging_expiration_days
}

module "state_table" {
  source = "../../modules/state_table"

  table_name  = "${local.name_prefix}-state"
  kms_key_arn = module.kms.key_arn
}

module "iam" {
  source = "../../modules/iam"

  name_prefix    = local.name_prefix
  function_names = local.function_names
  dead_letter_queue_arns = {
    replication     = module.replication_function.dead_letter_queue_arn
    s3_cleanup      = module.s3_cleanup_function.dead_letter_queue_arn
    watermark_admin = module.watermark_admin_function.dead_letter_queue_arn
  }
  staging_bucket_arn = module.staging_bucket.bucket_arn
  staging_prefix     = module.staging_bucket.staging_prefix
  kms_key_arn        = module.kms.key_arn
  state_table_arn    = module.state_table.table_arn
  # The storage role trusts the integration, so it is created once the integration exists.
  create_snowflake_storage_role      = var.snowflake_storage_aws_iam_user_arn != null
  snowflake_storage_aws_iam_user_arn = var.snowflake_storage_aws_iam_user_arn
  snowflake_storage_external_id      = var.snowflake_storage_external_id
}

module "replication_function" {
  source = "../../modules/lambda_function"

  function_name                  = local.function_names.replication
  description                    = "Replicates Aurora PostgreSQL tables into Snowflake"
  role_arn                       = module.iam.lambda_role_arns["replication"]
  s3_bucket                      = var.artifact_bucket
  s3_key                         = var.artifact_keys.replication
  architecture                   = var.lambda_architecture
  memory_size                    = var.lambda_memory_size
  timeout                        = var.lambda_timeout
  reserved_concurrent_executions = var.replication_reserved_concurrency
  environment_variables          = local.replication_environment
  subnet_ids                     = var.subnet_ids
  security_group_ids             = [module.networking.lambda_security_group_id]
  kms_key_arn                    = module.kms.key_arn
  log_retention_in_days          = var.log_retention_in_days
}

module "s3_cleanup_function" {
  source = "../../modules/lambda_function"

  function_name                  = local.function_names.s3_cleanup
  description                    = "Deletes staged objects left behind by finished or crashed runs"
  role_arn                       = module.iam.lambda_role_arns["s3_cleanup"]
  s3_bucket                      = var.artifact_bucket
  s3_key                         = var.artifact_keys.s3_cleanup
  architecture                   = var.lambda_architecture
  memory_size                    = 256
  timeout                        = 300
  reserved_concurrent_executions = 1
  environment_variables          = local.s3_cleanup_environment
  subnet_ids                     = var.subnet_ids
  security_group_ids             = [module.networking.lambda_security_group_id]
  kms_key_arn                    = module.kms.key_arn
  log_retention_in_days          = var.log_retention_in_days
}

module "watermark_admin_function" {
  source = "../../modules/lambda_function"

  function_name                  = local.function_names.watermark_admin
  description                    = "Operator actions on watermarks and locks, with an audit trail"
  role_arn                       = module.iam.lambda_role_arns["watermark_admin"]
  s3_bucket                      = var.artifact_bucket
  s3_key                         = var.artifact_keys.watermark_admin
  architecture                   = var.lambda_architecture
  memory_size                    = 256
  timeout                        = 60
  reserved_concurrent_executions = 1
  environment_variables          = local.common_environment
  subnet_ids                     = var.subnet_ids
  security_group_ids             = [module.networking.lambda_security_group_id]
  kms_key_arn                    = module.kms.key_arn
  log_retention_in_days          = var.log_retention_in_days
}

module "scheduling" {
  source = "../../modules/scheduling"

  name_prefix                 = local.name_prefix
  tables                      = local.tables
  replication_function_name   = module.replication_function.function_name
  replication_alias_name      = module.replication_function.alias_name
  replication_alias_arn       = module.replication_function.alias_arn
  cleanup_function_name       = module.s3_cleanup_function.function_name
  cleanup_alias_name          = module.s3_cleanup_function.alias_name
  cleanup_alias_arn           = module.s3_cleanup_function.alias_arn
  cleanup_schedule_expression = var.cleanup_schedule_expression
  cleanup_older_than_hours    = var.cleanup_older_than_hours
}

module "monitoring" {
  source = "../../modules/monitoring"

  name_prefix = local.name_prefix
  functions = {
    replication = {
      function_name          = module.replication_function.function_name
      timeout_seconds        = module.replication_function.timeout
      dead_letter_queue_name = module.replication_function.dead_letter_queue_name
    }
    s3_cleanup = {
      function_name          = module.s3_cleanup_function.function_name
      timeout_seconds        = module.s3_cleanup_function.timeout
      dead_letter_queue_name = module.s3_cleanup_function.dead_letter_queue_name
    }
    watermark_admin = {
      function_name          = module.watermark_admin_function.function_name
      timeout_seconds        = module.watermark_admin_function.timeout
      dead_letter_queue_name = module.watermark_admin_function.dead_letter_queue_name
    }
  }
  tables = {
    for key, table in local.tables : key => {
      staleness_threshold_seconds = lookup(var.table_staleness_threshold_seconds, key, var.staleness_threshold_seconds)
      evaluation_period_seconds   = var.staleness_evaluation_period_seconds
      track_lag                   = table.mode == "incremental"
    } if table.enabled
  }
  metrics_service_name       = local.common_environment.POWERTOOLS_SERVICE_NAME
  duration_threshold_percent = var.duration_threshold_percent
  kms_key_arn                = module.kms.key_arn
  alarm_email_addresses      = var.alarm_email_addresses
}
