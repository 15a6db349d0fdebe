#!/usr/bin/env bash
# Shared by deploy.sh and destroy.sh (sourced, not run): messages, the check of the environment,
# workspace and tfvars arguments, and terraform run in infrastructure/.
# The caller defines usage() and sets INFRA_DIR, TERRAFORM, ENVIRONMENT, WORKSPACE and VAR_FILE.

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
die_usage() { printf 'error: %s\n\n' "$*" >&2; usage >&2; exit 2; }

# Check -e/-w/-f; set WORKSPACE (default: the environment), ENV_VAR_FILE and an absolute VAR_FILE.
check_target_arguments() {
  case "${ENVIRONMENT}" in
    dev | staging | prod) ;;
    "") die_usage "-e ENV is required" ;;
    *) die_usage "environment must be dev, staging or prod, not '${ENVIRONMENT}'" ;;
  esac
  WORKSPACE="${WORKSPACE:-${ENVIRONMENT}}"
  [[ "${WORKSPACE}" =~ ^[A-Za-z0-9_-]{1,64}$ ]] || die_usage "workspace must be letters, digits, _ or - (got '${WORKSPACE}')"
  # shellcheck disable=SC2034  # read by the script that sourced this file
  ENV_VAR_FILE="${INFRA_DIR}/environments/${ENVIRONMENT}.tfvars"
  if [[ -n "${VAR_FILE}" ]]; then
    [[ -f "${VAR_FILE}" ]] || die_usage "tfvars file not found: ${VAR_FILE}"
    VAR_FILE="$(cd "$(dirname "${VAR_FILE}")" && pwd)/$(basename "${VAR_FILE}")"
  fi
}

tf() { "${TERRAFORM}" -chdir="${INFRA_DIR}" "$@"; }

# terraform init with this environment's remote state: environments/ENV.backend.hcl if present,
# else TF_STATE_RESOURCE_GROUP, TF_STATE_STORAGE_ACCOUNT and TF_STATE_CONTAINER (default tfstate).
init_remote_state() {
  log "Initialising remote state for ${ENVIRONMENT}"
  local backend=(-backend-config="key=${ENVIRONMENT}.tfstate" -backend-config="use_azuread_auth=true")
  local backend_file="${INFRA_DIR}/environments/${ENVIRONMENT}.backend.hcl"
  if [[ -f "${backend_file}" ]]; then
    backend=(-backend-config="${backend_file}" "${backend[@]}")
  else
    [[ -n "${TF_STATE_RESOURCE_GROUP:-}" && -n "${TF_STATE_STORAGE_ACCOUNT:-}" ]] ||
      die "no ${backend_file}: set TF_STATE_RESOURCE_GROUP and TF_STATE_STORAGE_ACCOUNT (see environments/backend.hcl.example)"
    backend+=(
      -backend-config="resource_group_name=${TF_STATE_RESOURCE_GROUP}"
      -backend-config="storage_account_name=${TF_STATE_STORAGE_ACCOUNT}"
      -backend-config="container_name=${TF_STATE_CONTAINER:-tfstate}"
    )
  fi
  tf init -input=false -reconfigure "${backend[@]}"
}
