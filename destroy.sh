#!/usr/bin/env bash
# Tear down one environment of the sensor analyzer. Keeps the data stores (Cosmos DB, Redis) and
# their resource group unless --destroy-data; refuses prod without a typed confirmation.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
INFRA_DIR="${SCRIPT_DIR}/infrastructure"
TERRAFORM="${TERRAFORM:-terraform}"
AZ="${AZ:-az}"

usage() {
  cat <<'USAGE'
Usage: ./destroy.sh -e dev|staging|prod [-p] [-f FILE.tfvars] [-w WORKSPACE] [--destroy-data] [--force-destroy] [-h]

  -e ENV           environment to tear down (dev, staging or prod)            [required]
  -p               plan only: write and show the destruction plan, change nothing
  -f FILE          extra .tfvars, as given to deploy.sh
  -w WORKSPACE     terraform workspace (default: ENV)
  --destroy-data   also destroy Cosmos DB, Redis and the resource group (data is lost)
  --force-destroy  lift the resource locks (prod) before destroying
  -h               show this help

Every run shows the plan and asks for confirmation; prod needs "prod" typed, whatever the flags.
USAGE
}

# shellcheck source=infrastructure/scripts/common.sh
source "${INFRA_DIR}/scripts/common.sh"

ENVIRONMENT=""
PLAN_ONLY=false
DESTROY_DATA=false
FORCE_DESTROY=false
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

VAR_ARGS=(-var-file="${ENV_VAR_FILE}" -var="environment=${ENVIRONMENT}")
[[ -z "${VAR_FILE}" ]] || VAR_ARGS+=(-var-file="${VAR_FILE}")

mapfile -t ADDRESSES < <(tf state list | grep -v '^data\.' || true)
[[ ${#ADDRESSES[@]} -gt 0 ]] || { echo "state of ${ENVIRONMENT}/${WORKSPACE} is empty: nothing to destroy"; exit 0; }

# Resources that hold data, and what they need to keep existing.
DATA_PATTERN='^(azurerm_resource_group|azurerm_cosmosdb_account|azurerm_cosmosdb_sql_database|azurerm_cosmosdb_sql_container|azurerm_managed_redis|azurerm_redis_cache|azurerm_management_lock)\.'
LOCKS=()
TARGETS=()
for address in "${ADDRESSES[@]}"; do
  [[ "${address}" != azurerm_management_lock.* ]] || LOCKS+=("${address}")
  if ! ${DESTROY_DATA} && [[ "${address}" =~ ${DATA_PATTERN} ]]; then
    continue
  fi
  TARGETS+=("-target=${address}")
done

if [[ ${#LOCKS[@]} -gt 0 ]] && ! ${FORCE_DESTROY}; then
  if ${DESTROY_DATA} || [[ "${ENVIRONMENT}" == "prod" ]]; then
    die "${ENVIRONMENT} has resource locks (${LOCKS[*]}): re-run with --force-destroy to lift them first"
  fi
fi

PLAN_FILE="${INFRA_DIR}/${ENVIRONMENT}.destroy.tfplan"
PLAN_ARGS=(plan -destroy -input=false "${VAR_ARGS[@]}" -out="${PLAN_FILE}")
if ${DESTROY_DATA}; then
  log "Planning the destruction of EVERYTHING in ${ENVIRONMENT}, data stores included"
else
  log "Planning the destruction of ${ENVIRONMENT}, keeping Cosmos DB, Redis and the resource group"
  PLAN_ARGS+=("${TARGETS[@]}")
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
  log "Lifting resource locks: ${LOCKS[*]}"
  LOCK_TARGETS=()
  for lock in "${LOCKS[@]}"; do LOCK_TARGETS+=("-target=${lock}"); done
  tf apply -destroy -input=false -auto-approve "${VAR_ARGS[@]}" "${LOCK_TARGETS[@]}"
  # The plan above was made with the locks present; plan again without them.
  tf "${PLAN_ARGS[@]}"
fi

log "Destroying"
tf apply -input=false "${PLAN_FILE}"
rm -f "${PLAN_FILE}"
${DESTROY_DATA} || log "Kept: Cosmos DB, Redis and the resource group (pass --destroy-data to remove them)"
