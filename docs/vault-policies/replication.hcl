# Vault policy for the replication Lambda (attach it to the aws auth role that VAULT_ROLE names,
# or to the token given as VAULT_TOKEN). It reads the two secrets and nothing else.
#
# The paths are the defaults of VAULT_SECRET_PATH_AURORA and VAULT_SECRET_PATH_SNOWFLAKE on the
# kv-v2 mount `secret/`: a secret written `secret/aurora/connection` is read through the API
# path `secret/data/aurora/connection`. On a kv-v1 mount, drop the `data/` segment.
# Reading a path also lets the function look up the mount's KV version through
# sys/internal/ui/mounts/<path>: no separate grant (and no sudo) is needed for that.

path "secret/data/aurora/connection" {
  capabilities = ["read"]
}

path "secret/data/snowflake/credentials" {
  capabilities = ["read"]
}

# Renew and look up its own token. Vault's `default` policy grants both; they are repeated here
# for roles created with token_no_default_policy=true.
path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/lookup-self" {
  capabilities = ["read"]
}
