#!/usr/bin/env bash
# Tear down one environment of the sensor analyzer. Keeps the data stores (Cosmos DB, Redis), the
# Azure OpenAI account (soft-deleted accounts block a redeploy; see below), their locks and the
# resource group unless --destroy-data; refuses prod without a typed confirmation.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
INFRA_DIR="${SCRIPT_DIR}/infrastructure"
TERRAFORM="${TERRAFORM:-terraform}"
AZ="${AZ:-az}"
CURL="${CURL:-curl}"

usage() {
  cat <<'USAGE'
Usage: ./destroy.sh -e dev|staging|prod [-p] [-f FILE.tfvars] [-w WORKSPACE] [--destroy-data] [--force-destroy] [--from-vnet] [-h]

  -e ENV           environment to tear down (dev, staging or prod)            [required]
  -p               plan only: write and show the destruction plan, change nothing
  -f FILE          extra .tfvars, as given to deploy.sh
  -w WORKSPACE     terraform workspace (default: ENV)
  --destroy-data   also destroy Cosmos DB, Redis, Azure OpenAI (purged, so the name is free at once)
                   and the resource group (data is lost)
  --force-destroy  lift the resource locks (prod) of what is destroyed; the locks of kept stores stay
  --from-vnet      run from inside the VNet: open no firewall (as deploy.sh)
  -h               show this help

Kept without --destroy-data: Cosmos DB, Redis, the Azure OpenAI account and its deployment (a
destroyed account is soft-deleted and would block the next deploy under the same name), their locks
and the resource group. Every run shows the plan and asks for confirmation; prod needs "prod"
typed, whatever the flags.
USAGE
}

# shellcheck source=infrastructure/scripts/common.sh
source "${INFRA_DIR}/scripts/common.sh"

ENVIRONMENT=""
PLAN_ONLY=false
DESTROY_DATA=false
FORCE_DESTROY=false
FROM_VNET=false
VAR_FILE=""
WORKSPACE=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    -e) [[ $# -ge 2 ]] || die_usage "-e needs a value"; ENVIRONMENT="$2"; shift 2 ;;
    -p) PLAN_ONLY=true; shift ;;
    -f) [[ $# -ge 2 ]] || die_usage "-f needs a value"; VAR_FILE="$2"; shift 2 ;;
    -w) [[ $# -ge 2 ]] || die_usage "-w needs a value"; WORKSPACE="$2"; shift 2 ;;
    --destroy-data) DESTROY_DATA=true; shift ;;
    --force-destroy) FORCE_DESTROY=true; shift ;;
    --from-vnet) FROM_VNET=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die_usage "unknown argument: $1" ;;
  esac
done

check_target_arguments

log "Checking prerequisites"
command -v "${TERRAFORM}" >/dev/null 2>&1 || die "terraform not found"
command -v "${AZ}" >/dev/null 2>&1 || die "Azure CLI (az) not found"
"${AZ}" account show --query id -o tsv >/dev/null 2>&1 || die "not logged in to Azure: run 'az login'"

init_remote_state
# Never create a workspace just to destroy it.
tf workspace select "${WORKSPACE}" || die "workspace '${WORKSPACE}' does not exist"

mapfile -t ADDRESSES < <(tf state list | grep -v '^data\.' || true)
[[ ${#ADDRESSES[@]} -gt 0 ]] || { echo "state of ${ENVIRONMENT}/${WORKSPACE} is empty: nothing to destroy"; exit 0; }

# The plan reads (and the destroy deletes) Key Vault secrets through the data plane.
if ! ${FROM_VNET}; then
  detect_deployer_ip
  trap 'close_deploy_access' EXIT
fi
open_deploy_access

VAR_ARGS=(-var-file="${ENV_VAR_FILE}" -var="environment=${ENVIRONMENT}")
[[ -z "${VAR_FILE}" ]] || VAR_ARGS+=(-var-file="${VAR_FILE}")
[[ ${#SESSION_VARS[@]} -eq 0 ]] || VAR_ARGS+=("${SESSION_VARS[@]}")

# What the data-keeping destroy keeps: the data stores, the OpenAI account and its deployment (a
# destroyed account is soft-deleted and the provider never restores it: the next deploy under the
# same name would fail; with --destroy-data it is destroyed AND purged, see main.tf), the locks of
# the kept stores, and the resource group that holds them.
KEPT_PATTERN='^(azurerm_resource_group|azurerm_cosmosdb_account|azurerm_cosmosdb_sql_database|azurerm_cosmosdb_sql_container|azurerm_managed_redis|azurerm_redis_cache|azurerm_cognitive_account|azurerm_cognitive_deployment)\.'
KEPT_LOCK_PATTERN='^azurerm_management_lock\.(cosmos|redis)(\[|$)'
LOCKS=()
TARGETS=()
for address in "${ADDRESSES[@]}"; do
  if ! ${DESTROY_DATA} && [[ "${address}" =~ ${KEPT_PATTERN} || "${address}" =~ ${KEPT_LOCK_PATTERN} ]]; then
    continue
  fi
  # A lock that goes: lifted first (--force-destroy), so its resource can be deleted.
  [[ "${address}" != azurerm_management_lock.* ]] || LOCKS+=("${address}")
  # With --destroy-data the resource group goes last, after the resources Azure adds to it.
  ${DESTROY_DATA} && [[ "${address}" == azurerm_resource_group.* ]] && continue
  TARGETS+=("-target=${address}")
done

if [[ ${#LOCKS[@]} -gt 0 ]] && ! ${FORCE_DESTROY}; then
  if ${DESTROY_DATA} || [[ "${ENVIRONMENT}" == "prod" ]]; then
    die "${ENVIRONMENT} has resource locks on what would be destroyed (${LOCKS[*]}): re-run with --force-destroy to lift them first"
  fi
fi

RESOURCE_GROUP="$(tf output -raw resource_group_name 2>/dev/null || true)"
PLAN_FILE="${INFRA_DIR}/${ENVIRONMENT}.destroy.tfplan"
PLAN_ARGS=(plan -destroy -input=false "${VAR_ARGS[@]}" -out="${PLAN_FILE}" "${TARGETS[@]}")
if ${DESTROY_DATA}; then
  log "Planning the destruction of EVERYTHING in ${ENVIRONMENT}, data stores included (the resource group last)"
else
  log "Planning the destruction of ${ENVIRONMENT}, keeping Cosmos DB, Redis, Azure OpenAI, their locks and the resource group"
fi
tf "${PLAN_ARGS[@]}"
log "The destruction plan"
tf show -no-color "${PLAN_FILE}"

if ${PLAN_ONLY}; then
  log "Plan only (-p): plan written to ${PLAN_FILE}; nothing destroyed"
  exit 0
fi

if [[ "${ENVIRONMENT}" == "prod" ]]; then
  printf 'This DESTROYS PRODUCTION resources. Type "prod" to continue: '
else
  printf 'Type "%s" to destroy these resources: ' "${ENVIRONMENT}"
fi
TYPED=""
read -r TYPED || true
[[ "${TYPED}" == "${ENVIRONMENT}" ]] || die "not confirmed; nothing destroyed"

if ${FORCE_DESTROY} && [[ ${#LOCKS[@]} -gt 0 ]]; then
  log "Lifting the resource locks of what is destroyed: ${LOCKS[*]}"
  LOCK_TARGETS=()
  for lock in "${LOCKS[@]}"; do LOCK_TARGETS+=("-target=${lock}"); done
  tf apply -destroy -input=false -auto-approve "${VAR_ARGS[@]}" "${LOCK_TARGETS[@]}"
  # The plan above was made with the locks present; plan again without them.
  tf "${PLAN_ARGS[@]}"
fi

log "Destroying"
tf apply -input=false "${PLAN_FILE}"
rm -f "${PLAN_FILE}"

if ${DESTROY_DATA}; then
  # Application Insights makes Azure add a "Failure Anomalies" smart detection rule (the provider
  # deletes it: features.application_insights.disable_generated_rule) and an action group that no
  # state knows; with prevent_deletion_if_contains_resources the group would refuse to go.
  if [[ -n "${RESOURCE_GROUP}" ]] &&
    "${AZ}" monitor action-group show --resource-group "${RESOURCE_GROUP}" --name "Application Insights Smart Detection" --output none 2>/dev/null; then
    log "Deleting the action group Application Insights generated outside the state"
    "${AZ}" monitor action-group delete --resource-group "${RESOURCE_GROUP}" --name "Application Insights Smart Detection"
  fi
  # (Not `printf | grep -q`: grep stops early and pipefail would report the printf's SIGPIPE.)
  if [[ " ${ADDRESSES[*]} " == *" azurerm_resource_group.main "* ]]; then
    log "Destroying the resource group"
    tf apply -destroy -input=false -auto-approve "${VAR_ARGS[@]}" -target=azurerm_resource_group.main
  fi
else
  log "Kept: Cosmos DB, Redis, Azure OpenAI, their locks and the resource group (pass --destroy-data to remove them)"
fi
