from kefu_common.migrations import run_env

run_env(schema="gateway")
