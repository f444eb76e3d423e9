// The runtime's APIs with the credential the user gave: a bearer token (admin token, JWT) or an API key.

const CredentialKey = "aperture.credential";

export interface Credential {
  kind: "bearer" | "api-key";
  secret: string;
}

export function credential(): Credential | null {
  const saved = sessionStorage.getItem(CredentialKey);
  if (!saved) {
    return null;
  }
  try {
    return JSON.parse(saved) as Credential;
  } catch {
    return null;
  }
}

export function remember(value: Credential | null): void {
  if (value) {
    sessionStorage.setItem(CredentialKey, JSON.stringify(value));
  } else {
    sessionStorage.removeItem(CredentialKey);
  }
}

/** A failed call, with the words the API gave (the spec's error format) or the HTTP status. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export async function call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const given = credential();
  if (given?.kind === "bearer") {
    headers.Authorization = `Bearer ${given.secret}`;
  } else if (given?.kind === "api-key") {
    headers["X-Api-Key"] = given.secret;
  }
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") {
      throw e;
    }
    throw new ApiError(0, `The runtime could not be reached (${String(e)}).`);
  }
  const text = await response.text();
  let parsed: unknown = undefined;
  try {
    parsed = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON: reported below by status.
  }
  if (!response.ok) {
    throw new ApiError(response.status, describe(response.status, parsed));
  }
  return parsed as T;
}

function describe(status: number, body: unknown): string {
  // The spec's error format: {"error": code, "message": words, "details"}.
  const message = (body as { message?: string } | undefined)?.message;
  const words = status === 401 ? "Not signed in, or the credential was refused." : status === 403 ? "This credential may not do that." : `HTTP ${status}.`;
  return message ? `${words} ${message}` : words;
}

export interface Permissions {
  tenant_id: string;
  user_id: string;
  role: string;
  level: number;
  permissions: string[];
}
