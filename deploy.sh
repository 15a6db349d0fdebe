#!/usr/bin/env bash
# Deploy one environment of the sensor analyzer to Azure: open the caller's address on the private
# data planes for this run, plan, show, apply exactly that plan, publish the analyzer image, the
# function code and (once it exists) the dashboard API, and close the address again, also on failure.
# infrastructure/README.md, "What a deploy does, step by step", follows this script.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
INFRA_DIR="${SCRIPT_DIR}/infrastructure"
TERRAFORM="${TERRAFORM:-terraform}"
AZ="${AZ:-az}"
DOCKER="${DOCKER:-docker}"
CURL="${CURL:-curl}"
PYTHON="${PYTHON:-python3}"
# The operator/dashboard API (package dashboard_api); published only once its app module exists.
DASHBOARD_API_DIR="${DASHBOARD_API_DIR:-${SCRIPT_DIR}/dashboard-api}"

usage() {
  cat <<'USAGE'
Usage: ./deploy.sh -e dev|staging|prod [-p] [-y] [--yes-i-mean-prod] [--from-vnet] [-f FILE.tfvars] [-w WORKSPACE] [-h]

  -e ENV             environment to deploy (dev, staging or prod)                  [required]
  -p                 plan only: write and show the plan, change nothing
  -y                 apply without asking (dev, staging)
  --yes-i-mean-prod  with -y: apply to prod unattended. This is the CI form:
                       ./deploy.sh -e prod -y --yes-i-mean-prod
                     Without it prod asks for "prod" typed on a terminal; with no terminal
                     (CI, closed or redirected stdin) it stops at once, applies nothing and never
                     prompts. dev/staging without -y and without a terminal stop the same way.
  --from-vnet        run from a machine inside the VNet (deployment_runner_subnet_cidr): open no
                     firewall. Otherwise this machine's public address (DEPLOYER_IP, or asked of
                     DEPLOYER_IP_URL, default https://api.ipify.org) is allowed on Key Vault, the
                     registry and the Kudu sites for this run only, and removed on exit, also on failure.
  -f FILE            extra .tfvars applied after infrastructure/environments/ENV.tfvars
                     (subscription_id, dashboard_auth_client_id, ...; see terraform.tfvars.example)
  -w WORKSPACE       terraform workspace (default: ENV)
  -h                 show this help

Remote state: infrastructure/environments/ENV.backend.hcl if present, otherwise the variables
TF_STATE_RESOURCE_GROUP, TF_STATE_STORAGE_ACCOUNT and TF_STATE_CONTAINER (default "tfstate").
The dashboard API is published only once dashboard-api/dashboard_api/main.py exists.
USAGE
}

# shellcheck source=infrastructure/scripts/common.sh
source "${INFRA_DIR}/scripts/common.sh"

ENVIRONMENT=""
PLAN_ONLY=false
ASSUME_YES=false
PROD_OVERRIDE=false
FROM_VNET=false
VAR_FILE=""
WORKSPACE=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    -e) [[ $# -ge 2 ]] || die_usage "-e needs a value"; ENVIRONMENT="$2"; shift 2 ;;
    -p) PLAN_ONLY=true; shift ;;
    -y) ASSUME_YES=true; shift ;;
    -f) [[ $# -ge 2 ]] || die_usage "-f needs a value"; VAR_FILE="$2"; shift 2 ;;
    -w) [[ $# -ge 2 ]] || die_usage "-w needs a value"; WORKSPACE="$2"; shift 2 ;;
    --yes-i-mean-prod) PROD_OVERRIDE=true; shift ;;
    --from-vnet) FROM_VNET=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die_usage "unknown argument: $1" ;;
  esac
done

check_target_arguments

# Decide now whether this run may apply without a terminal, before touching anything.
unattended_ok() {
  if [[ "${ENVIRONMENT}" == "prod" ]]; then
    ${ASSUME_YES} && ${PROD_OVERRIDE}
  else
    ${ASSUME_YES}
  fi
}
if ! ${PLAN_ONLY} && ! unattended_ok && [[ ! -t 0 ]]; then
  if [[ "${ENVIRONMENT}" == "prod" ]]; then
    die "not confirmed: no terminal to type \"prod\" on; an unattended prod deploy needs -y --yes-i-mean-prod. Nothing changed."
  fi
  die "not confirmed: no terminal to answer on; pass -y to deploy ${ENVIRONMENT} unattended. Nothing changed."
fi

# --- Prerequisites -------------------------------------------------------------------------------------
check_prerequisites() {
  log "Checking prerequisites"
  command -v "${TERRAFORM}" >/dev/null 2>&1 || die "terraform not found (install it from HashiCorp; no package registry offers it)"
  command -v "${AZ}" >/dev/null 2>&1 || die "Azure CLI (az) not found"
  [[ -f "${ENV_VAR_FILE}" ]] || die "missing ${ENV_VAR_FILE}"
  local current expected=""
  current="$("${AZ}" account show --query id -o tsv 2>/dev/null)" || die "not logged in to Azure: run 'az login'"
  if [[ -n "${TF_VAR_subscription_id:-}" ]]; then
    expected="${TF_VAR_subscription_id}"
  else
    local file
    for file in "${ENV_VAR_FILE}" "${VAR_FILE}"; do
      [[ -n "${file}" ]] || continue
      local found
      found="$(sed -n 's/^[[:space:]]*subscription_id[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "${file}" | tail -n 1)"
      [[ -z "${found}" ]] || expected="${found}"
    done
  fi
  [[ -n "${expected}" ]] || die "subscription_id is not set (put it in the -f file or export TF_VAR_subscription_id)"
  [[ "${current}" == "${expected}" ]] ||
    die "az is on subscription ${current}, the deployment targets ${expected}: run 'az account set -s ${expected}'"
  echo "terraform: $("${TERRAFORM}" version | head -n 1); subscription: ${current}"
}

# --- Terraform -------------------------------------------------------------------------------------------
terraform_init() {
  init_remote_state
  log "Selecting workspace ${WORKSPACE}"
  tf workspace select -or-create=true "${WORKSPACE}"
}

PLAN_FILE="${INFRA_DIR}/${ENVIRONMENT}.tfplan"

make_plan() {
  local args=(plan -input=false -var-file="${ENV_VAR_FILE}" -var="environment=${ENVIRONMENT}" -out="${PLAN_FILE}")
  [[ -z "${VAR_FILE}" ]] || args+=(-var-file="${VAR_FILE}")
  [[ -z "${IMAGE_TAG:-}" ]] || args+=(-var="analyzer_image_tag=${IMAGE_TAG}")
  [[ ${#SESSION_VARS[@]} -eq 0 ]] || args+=("${SESSION_VARS[@]}")
  log "Planning ${ENVIRONMENT} (workspace ${WORKSPACE})"
  tf "${args[@]}"
  log "The plan"
  tf show -no-color "${PLAN_FILE}"
}

confirm_apply() {
  if [[ "${ENVIRONMENT}" == "prod" ]]; then
    if ${ASSUME_YES} && ${PROD_OVERRIDE}; then
      echo "prod: applying without a prompt (-y --yes-i-mean-prod)"
      return 0
    fi
    [[ -t 0 ]] || die "not confirmed: no terminal to type \"prod\" on (use -y --yes-i-mean-prod); nothing applied"
    local typed=""
    printf 'This changes PRODUCTION. Type "prod" to apply this plan: '
    read -r typed || true
    [[ "${typed}" == "prod" ]] || die "not confirmed; nothing applied"
    return 0
  fi
  ${ASSUME_YES} && return 0
  [[ -t 0 ]] || die "not confirmed: no terminal to answer on (use -y); nothing applied"
  local answer=""
  printf 'Apply this plan to %s? [y/N] ' "${ENVIRONMENT}"
  read -r answer || true
  [[ "${answer}" =~ ^[Yy]([Ee][Ss])?$ ]] || die "not confirmed; nothing applied"
}

apply_plan() {
  log "Applying the plan"
  tf apply -input=false "${PLAN_FILE}"
  rm -f "${PLAN_FILE}"
}

output() { tf output -raw "$1"; }

# --- Publishing --------------------------------------------------------------------------------------------
image_tag() {
  local tag
  tag="$(git -C "${SCRIPT_DIR}" rev-parse --short=12 HEAD 2>/dev/null || date -u +%Y%m%d%H%M%S)"
  if [[ -n "$(git -C "${SCRIPT_DIR}" status --porcelain 2>/dev/null)" ]]; then
    tag="${tag}-dirty-$(date -u +%Y%m%d%H%M%S)"
  fi
  printf '%s' "${tag}"
}

publish_image() {
  local registry repository
  registry="$(output container_registry_name)"
  repository="$(output analyzer_image_repository)"
  [[ -f "${SCRIPT_DIR}/Dockerfile" ]] || die "no Dockerfile at the repository root: cannot build the analyzer image"
  command -v "${DOCKER}" >/dev/null 2>&1 || die "docker not found: needed to build the analyzer image"
  log "Building and pushing ${repository}:${IMAGE_TAG}"
  "${AZ}" acr login --name "${registry}"
  "${DOCKER}" build --pull -t "${repository}:${IMAGE_TAG}" "${SCRIPT_DIR}"
  "${DOCKER}" push "${repository}:${IMAGE_TAG}"
}

# Zip a directory tree; skips caches, virtualenvs and the patterns of an optional ignore file.
make_zip() {
  "${PYTHON}" - "$@" <<'PYZIP'
import fnmatch, os, sys, zipfile
target, root, ignore_file, *extra = sys.argv[1:]
patterns = [".venv", "__pycache__", "*.pyc", ".pytest_cache", "local.settings.json", "tests"]
if ignore_file and os.path.isfile(ignore_file):
    with open(ignore_file, encoding="utf-8") as handle:
        patterns += [line.strip().rstrip("/") for line in handle if line.strip() and not line.startswith("#")]
def skipped(rel):
    return any(fnmatch.fnmatch(part, pat) or fnmatch.fnmatch(rel, pat) for pat in patterns for part in rel.split(os.sep))
with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
    for entry in extra:
        name, _, content = entry.partition("=")
        archive.writestr(name, content + "\n")
    for base, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not skipped(os.path.relpath(os.path.join(base, d), root))]
        for file in files:
            rel = os.path.relpath(os.path.join(base, file), root)
            if not skipped(rel):
                archive.write(os.path.join(base, file), rel)
PYZIP
}

publish_functions() {
  local resource_group="$1" function_app work="$2"
  function_app="$(output function_app_name)"
  log "Publishing functions/ to ${function_app}"
  make_zip "${work}/functions.zip" "${SCRIPT_DIR}/functions" "${SCRIPT_DIR}/functions/.funcignore"
  # Remote build (Oryx) installs requirements.txt; it also removes ENABLE_ORYX_BUILD, which is why
  # Terraform does not set it.
  "${AZ}" functionapp deployment source config-zip --resource-group "${resource_group}" \
    --name "${function_app}" --src "${work}/functions.zip" --build-remote true
}

publish_dashboard() {
  local resource_group="$1" dashboard_app work="$2"
  if [[ ! -f "${DASHBOARD_API_DIR}/dashboard_api/main.py" ]]; then
    log "Skipping the dashboard API: ${DASHBOARD_API_DIR#"${SCRIPT_DIR}"/}/dashboard_api/main.py does not exist yet"
    echo "The App Service would start dashboard_api.main:app and fail its /healthz check, so nothing is"
    echo "published there until the operator API lands; everything else is deployed."
    return 0
  fi
  dashboard_app="$(output dashboard_app_name)"
  # The page's charts and Entra sign-in (uPlot, MSAL) are copied from node_modules, not committed.
  if [[ -d "${DASHBOARD_API_DIR}/dashboard_api/web" && ! -f "${DASHBOARD_API_DIR}/dashboard_api/web/vendor/.copied" ]]; then
    log "Copying the dashboard page's libraries from the npm lock file (make web)"
    make -C "${SCRIPT_DIR}" web || die "make web failed: the dashboard page needs node and npm to fetch uPlot and MSAL"
  fi
  log "Publishing the dashboard API to ${dashboard_app}"
  # The app installs this project (analyzer, schemas, dashboard_api) from its pyproject.toml.
  mkdir -p "${work}/dashboard"
  cp -R "${SCRIPT_DIR}/pyproject.toml" "${SCRIPT_DIR}/analyzer" "${SCRIPT_DIR}/schemas" "${work}/dashboard/"
  cp -R "${DASHBOARD_API_DIR}" "${work}/dashboard/dashboard-api"
  [[ ! -f "${SCRIPT_DIR}/README.md" ]] || cp "${SCRIPT_DIR}/README.md" "${work}/dashboard/"
  make_zip "${work}/dashboard.zip" "${work}/dashboard" "" "requirements.txt=."
  "${AZ}" webapp deploy --resource-group "${resource_group}" --name "${dashboard_app}" \
    --src-path "${work}/dashboard.zip" --type zip
}

publish_code() {
  local resource_group work
  resource_group="$(output resource_group_name)"
  work="$(mktemp -d)"
  publish_functions "${resource_group}" "${work}"
  publish_dashboard "${resource_group}" "${work}"
  rm -rf "${work}"
}

# --- Main ------------------------------------------------------------------------------------------------
check_prerequisites
terraform_init

if ! ${FROM_VNET}; then
  detect_deployer_ip
  trap 'close_deploy_access' EXIT
fi
open_deploy_access

# The registry exists once the environment has been applied; the first deploy creates it, pushes
# the image, then plans again with the image tag (see analyzer_image_tag).
IMAGE_TAG=""
REGISTRY_EXISTS=false
if tf output -raw container_registry_login_server >/dev/null 2>&1; then
  REGISTRY_EXISTS=true
  IMAGE_TAG="$(image_tag)"
  ${PLAN_ONLY} || publish_image
fi

make_plan
if ${PLAN_ONLY}; then
  log "Plan only (-p): plan written to ${PLAN_FILE}; nothing applied"
  exit 0
fi
confirm_apply
apply_plan

if ! ${REGISTRY_EXISTS}; then
  log "First deploy: the registry now exists; publishing the analyzer image and planning the container app"
  IMAGE_TAG="$(image_tag)"
  publish_image
  make_plan
  confirm_apply
  apply_plan
fi

publish_code

log "Outputs"
tf output
