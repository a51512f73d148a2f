data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  # What differs by environment, side by side. settings overrides the sizes, schedules
  # and thresholds where a site needs it; the security switches are fixed per environment.
  profiles = {
    dev = {
      lambda_timeout                      = 300
      lambda_memory_size                  = 1024
      replication_reserved_concurrency    = 2
      schedule_expression                 = "cron(0 2 * * ? *)"
      staging_expiration_days             = 3
      cleanup_schedule_expression         = "rate(12 hours)"
      staleness_threshold_seconds         = 93600
      staleness_evaluation_period_seconds = 86400
      log_level                           = "DEBUG"
      log_retention_in_days               = 365
      access_logging_enabled              = false
      code_signing_policy                 = "Warn"
    }
    staging = {
      lambda_timeout                      = 600
      lambda_memory_size                  = 2048
      replication_reserved_concurrency    = 4
      schedule_expression                 = "cron(0 */6 * * ? *)"
      staging_expiration_days             = 7
      cleanup_schedule_expression         = "rate(6 hours)"
      staleness_threshold_seconds         = 25200
      staleness_evaluation_period_seconds = 21600
      log_level                           = "INFO"
      log_retention_in_days               = 365
      access_logging_enabled              = true
      code_signing_policy                 = "Warn"
    }
    prod = {
      lambda_timeout                      = 900
      lambda_memory_size                  = 3008
      replication_reserved_concurrency    = 10
      schedule_expression                 = "rate(1 hour)"
      staging_expiration_days             = 7
      cleanup_schedule_expression         = "rate(6 hours)"
      staleness_threshold_seconds         = 7200
      staleness_evaluation_period_seconds = 3600
      log_level                           = "INFO"
      log_retention_in_days               = 731
      access_logging_enabled              = true
      code_signing_policy                 = "Enforce"
    }
  }
  base_profile = local.profiles[var.environment]
  profile = {
    lambda_timeout                      = coalesce(var.settings.lambda_timeout, local.base_profile.lambda_timeout)
    lambda_memory_size                  = coalesce(var.settings.lambda_memory_size, local.base_profile.lambda_memory_size)
    replication_reserved_concurrency    = coalesce(var.settings.replication_reserved_concurrency, local.base_profile.replication_reserved_concurrency)
    schedule_expression                 = coalesce(var.settings.schedule_expression, local.base_profile.schedule_expression)
    staging_expiration_days             = coalesce(var.settings.staging_expiration_days, local.base_profile.staging_expiration_days)
    cleanup_schedule_expression         = coalesce(var.settings.cleanup_schedule_expression, local.base_profile.cleanup_schedule_expression)
    staleness_threshold_seconds         = coalesce(var.settings.staleness_threshold_seconds, local.base_profile.staleness_threshold_seconds)
    staleness_evaluation_period_seconds = coalesce(var.settings.staleness_evaluation_period_seconds, local.base_profile.staleness_evaluation_period_seconds)
    log_level                           = coalesce(var.settings.log_level, local.base_profile.log_level)
    log_retention_in_days               = coalesce(var.settings.log_retention_in_days, local.base_profile.log_retention_in_days)
    access_logging_enabled              = local.base_profile.access_logging_enabled
    code_signing_policy                 = local.base_profile.code_signing_policy
  }

  environment = var.environment
  name_prefix = "aurora-batch-${local.environment}"
  # Built from the prefix, so the function's environment names it before it exists.
  tables_parameter_name = "/${local.name_prefix}/tables"
  partition   = data.aws_partition.current.partition
  account_id  = data.aws_caller_identity.current.account_id
  region      = data.aws_region.current.region

  function_names = {
    replication     = "${local.name_prefix}-replication"
    s3_cleanup      = "${local.name_prefix}-s3-cleanup"
    watermark_admin = "${local.name_prefix}-watermark-admin"
  }
  # Built from the names, so that policies can name them before the functions exist.
  function_arns  = { for key, name in local.function_names : key => "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${name}" }
  log_group_arns = { for key, name in local.function_names : key => "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${name}" }
  queue_arns     = { for key, name in local.function_names : key => "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${name}-dlq" }

  # The seed's single table (table_name + schedule_expression) joins the tables map.
  seed_table = var.settings.table_name == null ? {} : {
    "${var.settings.schema_name}.${var.settings.table_name}" = {
      schedule_expression = local.profile.schedule_expression
      mode                = var.settings.replication_mode
      incremental_column  = var.settings.incremental_column
      enabled             = true
    }
  }
  tables = merge(local.seed_table, var.settings.tables)

  vault_port = try(tonumber(regex("^https://[^/:]+:([0-9]+)", var.settings.vault_addr)[0]), 443)

  # The application's Powertools service and namespace (shared/aurora_batch/observability.py):
  # every metric carries service and table dimensions, which the alarms must match.
  common_environment = {
    LOG_LEVEL                    = local.profile.log_level
    POWERTOOLS_SERVICE_NAME      = "aurora-batch"
    POWERTOOLS_METRICS_NAMESPACE = "AuroraBatch"
    STATE_TABLE                  = module.state_table.table_name
  }
  replication_environment = merge(
    local.common_environment,
    {
      VAULT_ADDR                  = var.settings.vault_addr
      VAULT_ROLE                  = var.settings.vault_role
      VAULT_AUTH_MOUNT            = var.settings.vault_auth_mount
      VAULT_SECRET_PATH_AURORA    = var.settings.vault_secret_path_aurora
      VAULT_SECRET_PATH_SNOWFLAKE = var.settings.vault_secret_path_snowflake
      SNOWFLAKE_ENDPOINT          = coalesce(var.settings.snowflake_endpoint, var.settings.snowflake_privatelink_account_url)
      SNOWFLAKE_STAGE             = var.settings.snowflake_stage_name
      REPLICATION_MODE            = var.settings.replication_mode
      BATCH_SIZE                  = tostring(var.settings.batch_size)
      SCHEMA_NAME                 = var.settings.schema_name
      STAGING_BUCKET              = module.staging_bucket.bucket_name
      STAGING_PREFIX              = module.staging_bucket.staging_prefix
      STAGING_FORMAT              = var.settings.staging_format
      # Every table's options, read once per cold start from the parameter (the environment's
      # 4 KB would not hold them); events carry table names only.
      TABLES_SOURCE    = "ssm"
      TABLES_PARAMETER = local.tables_parameter_name
    },
    var.settings.vault_iam_server_id == null ? {} : { VAULT_IAM_SERVER_ID = var.settings.vault_iam_server_id },
    var.settings.incremental_column == null ? {} : { INCREMENTAL_COLUMN = var.settings.incremental_column },
    var.settings.table_name == null ? {} : { TABLE_NAME = var.settings.table_name },
  )
  # Who may set, reset and unlock: IAM grants these ARNs the admin function's URL, and the
  # function matches the signed caller against the same list (ADMIN_PRINCIPALS). A role's
  # callers sign as its sessions, arn:aws:sts::<account>:assumed-role/<name>/<session>.
  admin_principal_patterns = [
    for arn in var.settings.admin_principals :
    replace(arn, "/^arn:(aws[a-z-]*):iam::([0-9]{12}):role/(.*/)?([^/]+)$/", "arn:$1:sts::$2:assumed-role/$4/*")
  ]
  watermark_admin_environment = merge(
    local.common_environment,
    length(local.admin_principal_patterns) == 0 ? {} : { ADMIN_PRINCIPALS = jsonencode(local.admin_principal_patterns) },
  )
  s3_cleanup_environment = merge(local.common_environment, {
    STAGING_BUCKET = module.staging_bucket.bucket_name
    STAGING_PREFIX = module.staging_bucket.staging_prefix
  })

  functions = {
    replication = {
      description          = "Replicates Aurora PostgreSQL tables into Snowflake"
      memory_size          = local.profile.lambda_memory_size
      timeout              = local.profile.lambda_timeout
      reserved_concurrency = local.profile.replication_reserved_concurrency
      environment          = local.replication_environment
      function_url         = null
    }
    s3_cleanup = {
      description          = "Deletes staged objects left behind by finished or crashed runs"
      memory_size          = 256
      timeout              = 300
      reserved_concurrency = 1
      environment          = local.s3_cleanup_environment
      function_url         = null
    }
    watermark_admin = {
      description          = "Operator actions on watermarks and locks, with an audit trail"
      memory_size          = 256
      timeout              = 60
      reserved_concurrency = 1
      environment          = local.watermark_admin_environment
      # Operators reach it through this URL (AWS_IAM), signed as themselves.
      function_url = length(var.settings.admin_principals) == 0 ? null : {
        invoker_principal_arns = var.settings.admin_principals
      }
    }
  }
}

module "kms" {
  source = "../kms"

  name_prefix            = local.name_prefix
  key_administrator_arns = var.settings.administrator_arns
  key_user_arns          = module.iam.key_user_arns
  log_group_arns         = values(local.log_group_arns)
}

module "code_signing" {
  source = "../code_signing"

  name_prefix                      = local.name_prefix
  untrusted_artifact_on_deployment = local.profile.code_signing_policy
}

module "networking" {
  source = "../networking"

  name_prefix                          = local.name_prefix
  vpc_id                               = var.settings.vpc_id
  aurora_security_group_id             = var.settings.aurora_security_group_id
  aurora_port                          = var.settings.aurora_port
  aurora_endpoint                      = var.settings.aurora_endpoint
  vault_cidr_blocks                    = var.settings.vault_cidr_blocks
  vault_port                           = local.vault_port
  gateway_prefix_list_ids              = module.privatelink.gateway_prefix_list_ids
  snowflake_endpoint_security_group_id = var.settings.snowflake_endpoint_security_group_id
}

module "privatelink" {
  source = "../privatelink"

  name_prefix                          = local.name_prefix
  vpc_id                               = var.settings.vpc_id
  subnet_ids                           = var.settings.subnet_ids
  route_table_ids                      = var.settings.route_table_ids
  security_group_ids                   = [module.networking.vpc_endpoint_security_group_id]
  snowflake_vpc_endpoint_id            = var.settings.snowflake_vpc_endpoint_id
  snowflake_privatelink_service_name   = var.settings.snowflake_privatelink_service_name
  snowflake_privatelink_account_url    = var.settings.snowflake_privatelink_account_url
  snowflake_privatelink_ocsp_url       = var.settings.snowflake_privatelink_ocsp_url
  snowflake_internal_stage_bucket_arns = var.settings.snowflake_internal_stage_bucket_arns
  organization_id                      = var.settings.organization_id
  staging_bucket_arn                   = module.staging_bucket.bucket_arn
  state_table_arn                      = module.state_table.table_arn
  function_arns                        = values(local.function_arns)
  log_group_arns                       = values(local.log_group_arns)
  queue_arns                           = values(local.queue_arns)
  kms_key_arn                          = module.kms.key_arn
  metrics_namespace                    = local.common_environment.POWERTOOLS_METRICS_NAMESPACE
}

module "staging_bucket" {
  source = "../staging_bucket"

  bucket_name            = var.settings.staging_bucket_name
  staging_prefix         = var.settings.staging_prefix
  kms_key_arn            = module.kms.key_arn
  expiration_days        = local.profile.staging_expiration_days
  access_logging_enabled = local.profile.access_logging_enabled
  vpc_endpoint_ids       = [module.privatelink.gateway_endpoint_ids["s3"]]
  # Outside the endpoint: Snowflake reads from its own network; Terraform and the
  # administrators manage the bucket from HCP Terraform and the console.
  vpc_endpoint_exempt_principal_arns = concat([module.iam.snowflake_storage_role_arn], var.settings.administrator_arns)
}

module "state_table" {
  source = "../state_table"

  table_name  = "${local.name_prefix}-state"
  kms_key_arn = module.kms.key_arn
}

module "iam" {
  source = "../iam"

  name_prefix    = local.name_prefix
  function_names = local.function_names
  dead_letter_queue_arns = { for key, function in module.lambda_function : key => function.dead_letter_queue_arn }
  staging_bucket_arn = module.staging_bucket.bucket_arn
  staging_prefix     = module.staging_bucket.staging_prefix
  kms_key_arn        = module.kms.key_arn
  state_table_arn    = module.state_table.table_arn
  # The storage role trusts the integration, so it is created once the integration exists.
  create_snowflake_storage_role      = var.settings.snowflake_storage_aws_iam_user_arn != null
  snowflake_storage_aws_iam_user_arn = var.settings.snowflake_storage_aws_iam_user_arn
  snowflake_storage_external_id      = var.settings.snowflake_storage_external_id
}

# The three functions differ in their sizes and environment (local.functions) only.
module "lambda_function" {
  source   = "../lambda_function"
  for_each = local.functions

  function_name                  = local.function_names[each.key]
  description                    = each.value.description
  role_arn                       = module.iam.lambda_role_arns[each.key]
  s3_bucket                      = var.settings.artifact_bucket
  s3_key                         = var.settings.artifact_keys[each.key]
  architecture                   = var.settings.lambda_architecture
  memory_size                    = each.value.memory_size
  timeout                        = each.value.timeout
  reserved_concurrent_executions = each.value.reserved_concurrency
  environment_variables          = each.value.environment
  function_url                   = each.value.function_url
  subnet_ids                     = var.settings.subnet_ids
  security_group_ids             = [module.networking.lambda_security_group_ids[each.key]]
  kms_key_arn                    = module.kms.key_arn
  code_signing_config_arn        = module.code_signing.config_arn
  log_retention_in_days          = local.profile.log_retention_in_days
}

module "scheduling" {
  source = "../scheduling"

  name_prefix                 = local.name_prefix
  tables                      = local.tables
  replication_function_name   = module.lambda_function["replication"].function_name
  replication_alias_name      = module.lambda_function["replication"].alias_name
  replication_alias_arn       = module.lambda_function["replication"].alias_arn
  state_machine_arn           = module.orchestration.state_machine_arn
  cleanup_function_name       = module.lambda_function["s3_cleanup"].function_name
  cleanup_alias_name          = module.lambda_function["s3_cleanup"].alias_name
  cleanup_alias_arn           = module.lambda_function["s3_cleanup"].alias_arn
  cleanup_schedule_expression = local.profile.cleanup_schedule_expression
  cleanup_older_than_hours    = var.settings.cleanup_older_than_hours
  tables_parameter_name       = local.tables_parameter_name
  replication_role_name       = module.iam.lambda_role_names["replication"]
}

# Scheduled runs: plan, a Distributed Map of slices, load and commit, per table.
module "orchestration" {
  source = "../orchestration"

  name_prefix              = local.name_prefix
  replication_function_arn = module.lambda_function["replication"].alias_arn
  slice_max_concurrency    = local.profile.replication_reserved_concurrency
  kms_key_arn              = module.kms.key_arn
  alarm_topic_arn          = module.monitoring.sns_topic_arn
}

module "monitoring" {
  source = "../monitoring"

  name_prefix = local.name_prefix
  functions = {
    for key, function in module.lambda_function : key => {
      function_name          = function.function_name
      timeout_seconds        = function.timeout
      dead_letter_queue_name = function.dead_letter_queue_name
    }
  }
  tables = {
    for key, table in local.tables : key => {
      staleness_threshold_seconds = lookup(var.settings.table_staleness_threshold_seconds, key, local.profile.staleness_threshold_seconds)
      evaluation_period_seconds   = local.profile.staleness_evaluation_period_seconds
      track_lag                   = table.mode == "incremental"
      verify                      = try(table.row_digest, false) == true
    } if table.enabled
  }
  metrics_service_name       = local.common_environment.POWERTOOLS_SERVICE_NAME
  duration_threshold_percent = var.settings.duration_threshold_percent
  kms_key_arn                = module.kms.key_arn
  alarm_email_addresses      = var.settings.alarm_email_addresses
}
