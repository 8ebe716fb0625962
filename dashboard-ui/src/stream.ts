/**
 * Server-Sent Events over `fetch`, not `EventSource`: EventSource cannot send an Authorization header, and a
 * viewer with the token should see key names live without putting the token in a URL or a cookie.
 */
export interface StreamEvent {
  event: string;
  data: string;
}

export interface StreamHandlers {
  onEvent(event: StreamEvent): void;
  onState(state: 'live' | 'offline' | 'connecting'): void;
}

/** Splits a text buffer into complete events; returns what is left of an incomplete one. */
export function parseEvents(buffer: string, emit: (event: StreamEvent) => void): string {
  let rest = buffer;
  for (;;) {
    const end = rest.indexOf('\n\n');
    if (end < 0) return rest;
    const block = rest.slice(0, end);
    rest = rest.slice(end + 2);
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length > 0) emit({ event, data: data.join('\n') });
  }
}

/** Keeps a stream open, reconnecting with a growing delay (up to 10 s) after a failure; `stop()` ends it. */
export function openStream(url: string, headers: () => Record<string, string>, handlers: StreamHandlers): { stop(): void } {
  let stopped = false;
  let controller: AbortController | undefined;
  let delay = 1_000;
  const run = async (): Promise<void> => {
    while (!stopped) {
      controller = new AbortController();
      handlers.onState('connecting');
      try {
        const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers() }, cache: 'no-store', signal: controller.signal });
        if (!response.ok || response.body === null) throw new Error(`stream answered ${response.status}`);
        handlers.onState('live');
        delay = 1_000;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer = parseEvents(buffer + value, (event) => handlers.onEvent(event));
        }
      } catch {
        // Reconnect below: the server restarting or the network dropping is routine for a dashboard.
      }
      if (stopped) break;
      handlers.onState('offline');
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(10_000, delay * 2);
    }
  };
  void run();
  return {
    stop() {
      stopped = true;
      controller?.abort();
    },
  };
}
