// The server-sent events of /api/v1/live/events read with fetch (EventSource cannot send the API
// key or token header). Reconnects by itself after the server's `retry` delay and resumes with
// Last-Event-ID, so no reading or alarm is missed while the events are still in the streams.

export class LiveEvents {
  constructor(api, { onEvent, onStatus }) {
    this.api = api;
    this.onEvent = onEvent;
    this.onStatus = onStatus ?? (() => {});
    this.lastId = null;
    this.retryMs = 2000;
    this.stopped = false;
    this.controller = null;
  }

  start() {
    this.stopped = false;
    this.loop();
  }

  stop() {
    this.stopped = true;
    this.controller?.abort();
  }

  async loop() {
    let failures = 0;
    while (!this.stopped) {
      this.controller = new AbortController();
      try {
        this.onStatus("connecting");
        const headers = { Accept: "text/event-stream", ...(await this.api.credentials()) };
        if (this.lastId) headers["Last-Event-ID"] = this.lastId;
        const response = await fetch(this.api.url("live/events"), {
          headers,
          signal: this.controller.signal,
          cache: "no-store",
        });
        if (response.status === 401) {
          this.api.onUnauthorized?.("the event stream refused the credentials");
          this.onStatus("signed out");
          return;
        }
        if (!response.ok || !response.body) throw new Error(`events: HTTP ${response.status}`);
        failures = 0;
        this.onStatus("live");
        await this.read(response.body);
      } catch (error) {
        if (this.stopped) return;
        failures += 1;
        console.warn("event stream", error);
      }
      if (this.stopped) return;
      this.onStatus("reconnecting");
      // The server's retry delay, longer after repeated failures (at most 30 s).
      await new Promise((resolve) => setTimeout(resolve, Math.min(30000, this.retryMs * 2 ** Math.min(failures, 4))));
    }
  }

  async read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      // Events end with a blank line; the spec allows CRLF, CR or LF.
      buffer = buffer.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        this.dispatch(block);
      }
    }
  }

  dispatch(block) {
    let event = "message";
    let id = null;
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
      else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
    }
    if (id !== null) this.lastId = id;
    if (!data.length) return;
    let parsed;
    try {
      parsed = JSON.parse(data.join("\n"));
    } catch {
      return;
    }
    this.onEvent(event, parsed);
  }
}
