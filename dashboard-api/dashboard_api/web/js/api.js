// The public operator API (/api/v1) with the caller's credentials: an API key header or an
// Entra ID bearer token. Credentials travel in headers only, never in a URL.

export class ApiError extends Error {
  constructor(status, detail, body, etag) {
    super(detail);
    this.status = status;
    this.body = body;
    this.etag = etag;
  }
}

export class Api {
  /** @param {() => Promise<Record<string, string>>} credentials headers that sign a request */
  constructor(credentials, { onUnauthorized } = {}) {
    this.credentials = credentials;
    this.onUnauthorized = onUnauthorized;
  }

  url(path, params) {
    const url = new URL(path.startsWith("/") ? path : `/api/v1/${path}`, location.origin);
    for (const [key, value] of Object.entries(params ?? {})) {
      if (value === undefined || value === null || value === "") continue;
      for (const one of Array.isArray(value) ? value : [value]) url.searchParams.append(key, String(one));
    }
    return url;
  }

  async request(method, path, { params, body, headers, signal } = {}) {
    const response = await fetch(this.url(path, params), {
      method,
      signal,
      headers: {
        Accept: "application/json",
        ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
        ...(await this.credentials()),
        ...headers,
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      cache: "no-store",
    });
    const etag = response.headers.get("ETag");
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { detail: text.slice(0, 300) };
    }
    if (!response.ok) {
      if (response.status === 401 && this.onUnauthorized) this.onUnauthorized(data?.detail);
      throw new ApiError(response.status, data?.detail ?? `${response.status} ${response.statusText}`, data, etag);
    }
    return { data, etag, status: response.status };
  }

  async get(path, params, options = {}) {
    return (await this.request("GET", path, { ...options, params })).data;
  }

  post(path, body, options = {}) {
    return this.request("POST", path, { ...options, body });
  }
}

/** Every page of a paged list (``continuation``), up to ``most`` items. */
export async function allPages(api, path, params, most = 500) {
  const items = [];
  let continuation;
  do {
    const page = await api.get(path, { ...params, continuation });
    items.push(...page.data);
    continuation = page.continuation;
  } while (continuation && items.length < most);
  return items.slice(0, most);
}
