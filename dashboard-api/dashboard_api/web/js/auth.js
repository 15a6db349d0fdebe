// Sign-in: an API key kept in sessionStorage (gone when the tab closes, never in a URL), or, when
// the server's /config names an app registration, Entra ID through MSAL's redirect flow.

const KEY = "sensor-analyzer.api-key";

export class Auth {
  constructor(config) {
    this.config = config;
    this.msal = null;
    this.account = null;
  }

  get apiKey() {
    return sessionStorage.getItem(KEY);
  }

  useApiKey(key) {
    sessionStorage.setItem(KEY, key.trim());
  }

  get signedIn() {
    return Boolean(this.apiKey || this.account);
  }

  async headers() {
    if (this.account) return { Authorization: `Bearer ${await this.token()}` };
    const key = this.apiKey;
    return key ? { "X-API-Key": key } : {};
  }

  /** Entra ID: load MSAL (vendored) only when configured; finish a redirect sign-in if one returns. */
  async startEntra() {
    const entra = this.config?.entra;
    if (!entra) return;
    if (!window.msal) {
      await new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = "/static/vendor/msal-browser.min.js";
        script.onload = resolve;
        script.onerror = () => reject(new Error("MSAL is not installed on the server (make web)"));
        document.head.append(script);
      });
    }
    const options = {
      auth: { clientId: entra.client_id, authority: entra.authority, redirectUri: `${location.origin}/` },
      cache: { cacheLocation: "sessionStorage" },
    };
    // MSAL 3+ builds an initialised client with createStandardPublicClientApplication.
    this.msal = await window.msal.createStandardPublicClientApplication(options);
    const result = await this.msal.handleRedirectPromise();
    this.account = result?.account ?? this.msal.getAllAccounts()[0] ?? null;
  }

  async signInWithEntra() {
    await this.msal.loginRedirect({ scopes: this.config.entra.scopes });
  }

  async token() {
    const request = { scopes: this.config.entra.scopes, account: this.account };
    try {
      return (await this.msal.acquireTokenSilent(request)).accessToken;
    } catch (error) {
      if (error instanceof window.msal.InteractionRequiredAuthError) await this.msal.acquireTokenRedirect(request);
      throw error;
    }
  }

  async signOut() {
    sessionStorage.removeItem(KEY);
    if (this.account && this.msal) {
      const account = this.account;
      this.account = null;
      await this.msal.logoutRedirect({ account, postLogoutRedirectUri: `${location.origin}/` });
    }
  }
}
