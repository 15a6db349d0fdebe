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

# --- Deployer access for the duration of one run (deploy.sh, destroy.sh) --------------------------
#
# Key Vault (whose secrets every plan reads), the registry (docker push) and the Kudu sites (zip
# deploy) are closed to the internet. Unless the run comes from inside the VNet (--from-vnet), the
# caller's public address is opened on exactly those, with az, before terraform plans, passed to
# terraform as deploy_session_ip_ranges (so the plan agrees and never closes it mid-run), and closed
# again by close_deploy_access, which the callers run from an EXIT trap: also on failure.
# The caller sets FROM_VNET (true/false).

SESSION_CIDR=""
SESSION_VARS=()
SESSION_OPENED=false

# The caller's public IPv4 address: DEPLOYER_IP if set, else asked of DEPLOYER_IP_URL.
detect_deployer_ip() {
  local ip="${DEPLOYER_IP:-}"
  if [[ -z "${ip}" ]]; then
    command -v "${CURL}" >/dev/null 2>&1 || die "curl not found: needed to find this machine's public address (or set DEPLOYER_IP, or run from inside the VNet with --from-vnet)"
    ip="$("${CURL}" -fsS --max-time 10 "${DEPLOYER_IP_URL:-https://api.ipify.org}")" ||
      die "could not find this machine's public address (set DEPLOYER_IP=a.b.c.d, or run from inside the VNet with --from-vnet)"
  fi
  ip="${ip//[[:space:]]/}"
  [[ "${ip}" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || die "not an IPv4 address: '${ip}'"
  local octet
  for octet in "${BASH_REMATCH[@]:1}"; do ((octet <= 255)) || die "not an IPv4 address: '${ip}'"; done
  SESSION_CIDR="${ip}/32"
  SESSION_VARS=(-var="deploy_session_ip_ranges=[\"${SESSION_CIDR}\"]")
}

# Names of the environment's access-controlled resources, from the state's outputs ("" before the
# first apply).
session_names() {
  SESSION_RG="$(tf output -raw resource_group_name 2>/dev/null || true)"
  SESSION_KV="$(tf output -raw key_vault_name 2>/dev/null || true)"
  SESSION_CR="$(tf output -raw container_registry_name 2>/dev/null || true)"
  SESSION_FUNC="$(tf output -raw function_app_name 2>/dev/null || true)"
  SESSION_WEB="$(tf output -raw dashboard_app_name 2>/dev/null || true)"
}

# Open the caller's address on an existing environment (a first deploy creates the resources open
# to it through deploy_session_ip_ranges).
open_deploy_access() {
  ${FROM_VNET} && return 0
  session_names
  SESSION_OPENED=true
  [[ -n "${SESSION_RG}" && -n "${SESSION_KV}" ]] || {
    echo "no environment yet: terraform creates it open to ${SESSION_CIDR} for this run"
    return 0
  }
  log "Opening ${SESSION_CIDR} for this run (Key Vault, registry, Kudu); closed again on exit"
  "${AZ}" keyvault update --name "${SESSION_KV}" --resource-group "${SESSION_RG}" \
    --public-network-access Enabled --default-action Deny --bypass AzureServices --output none
  "${AZ}" keyvault network-rule add --name "${SESSION_KV}" --resource-group "${SESSION_RG}" \
    --ip-address "${SESSION_CIDR}" --output none
  "${AZ}" acr update --name "${SESSION_CR}" --public-network-enabled true --default-action Deny --output none
  "${AZ}" acr network-rule add --name "${SESSION_CR}" --ip-address "${SESSION_CIDR}" --output none
  "${AZ}" resource update --resource-group "${SESSION_RG}" --name "${SESSION_FUNC}" \
    --resource-type Microsoft.Web/sites --set properties.publicNetworkAccess=Enabled --output none
  "${AZ}" functionapp config access-restriction add --resource-group "${SESSION_RG}" --name "${SESSION_FUNC}" \
    --rule-name deploy-session-0 --action Allow --ip-address "${SESSION_CIDR}" --priority 90 --scm-site true --output none
  "${AZ}" webapp config access-restriction add --resource-group "${SESSION_RG}" --name "${SESSION_WEB}" \
    --rule-name deploy-session-0 --action Allow --ip-address "${SESSION_CIDR}" --priority 90 --scm-site true --output none
  # Firewall changes take a moment to reach the data plane: wait until the secrets can be listed.
  local attempt
  for attempt in 1 2 3 4 5 6 7 8 9 10 11 12; do
    "${AZ}" keyvault secret list --vault-name "${SESSION_KV}" --maxresults 1 --output none 2>/dev/null && return 0
    echo "waiting for the Key Vault firewall to admit ${SESSION_CIDR} (${attempt}/12)"
    sleep "${SESSION_WAIT_S:-5}"
  done
  die "Key Vault ${SESSION_KV} still refuses ${SESSION_CIDR}"
}

# Remove the caller's address again; public access goes off where no permanent deployer range
# (deployer_ip_ranges) needs it. Run from an EXIT trap; reports what it could not undo.
close_deploy_access() {
  local status=$? failed=()
  ${SESSION_OPENED} || return "${status}"
  SESSION_OPENED=false
  session_names
  [[ -n "${SESSION_RG}" ]] || return "${status}"
  log "Closing ${SESSION_CIDR} again"
  local permanent
  permanent="$(tf output -json deployer_ip_ranges 2>/dev/null | tr -d '[:space:]' || true)"
  local keep_public=false
  [[ -n "${permanent}" && "${permanent}" != "[]" ]] && keep_public=true

  if [[ -n "${SESSION_WEB}" ]] && "${AZ}" webapp show --resource-group "${SESSION_RG}" --name "${SESSION_WEB}" --output none 2>/dev/null; then
    "${AZ}" webapp config access-restriction remove --resource-group "${SESSION_RG}" --name "${SESSION_WEB}" \
      --rule-name deploy-session-0 --scm-site true --output none || failed+=("dashboard Kudu rule")
  fi
  if [[ -n "${SESSION_FUNC}" ]] && "${AZ}" functionapp show --resource-group "${SESSION_RG}" --name "${SESSION_FUNC}" --output none 2>/dev/null; then
    "${AZ}" functionapp config access-restriction remove --resource-group "${SESSION_RG}" --name "${SESSION_FUNC}" \
      --rule-name deploy-session-0 --scm-site true --output none || failed+=("function Kudu rule")
    ${keep_public} || "${AZ}" resource update --resource-group "${SESSION_RG}" --name "${SESSION_FUNC}" \
      --resource-type Microsoft.Web/sites --set properties.publicNetworkAccess=Disabled --output none ||
      failed+=("function public access")
  fi
  if [[ -n "${SESSION_CR}" ]] && "${AZ}" acr show --name "${SESSION_CR}" --output none 2>/dev/null; then
    "${AZ}" acr network-rule remove --name "${SESSION_CR}" --ip-address "${SESSION_CIDR}" --output none || failed+=("registry rule")
    ${keep_public} || "${AZ}" acr update --name "${SESSION_CR}" --public-network-enabled false --output none ||
      failed+=("registry public access")
  fi
  if [[ -n "${SESSION_KV}" ]] && "${AZ}" keyvault show --name "${SESSION_KV}" --resource-group "${SESSION_RG}" --output none 2>/dev/null; then
    "${AZ}" keyvault network-rule remove --name "${SESSION_KV}" --resource-group "${SESSION_RG}" \
      --ip-address "${SESSION_CIDR}" --output none || failed+=("Key Vault rule")
    ${keep_public} || "${AZ}" keyvault update --name "${SESSION_KV}" --resource-group "${SESSION_RG}" \
      --public-network-access Disabled --output none || failed+=("Key Vault public access")
  fi
  if [[ ${#failed[@]} -gt 0 ]]; then
    printf 'error: could not close %s for %s: %s. Close them by hand (az ... network-rule remove / access-restriction remove --rule-name deploy-session-0).\n' \
      "${SESSION_RG}" "${SESSION_CIDR}" "${failed[*]}" >&2
    [[ ${status} -ne 0 ]] || status=1
  else
    echo "closed: ${SESSION_CIDR} no longer reaches Key Vault, the registry or Kudu"
  fi
  return "${status}"
}
