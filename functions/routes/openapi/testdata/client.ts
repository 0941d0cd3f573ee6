// A web app's use of the types openapi-typescript generates from
// openapi.json (as api.ts beside this file). tsc checks it: a change to
// the document that would break such a client (an operation, parameter,
// field or error code renamed or removed, a type changed) fails here.
import type { components, operations, paths } from "./api";

type Contact = components["schemas"]["Contact"];
type ContactPage = paths["/v1/contacts"]["get"]["responses"][200]["content"]["application/json"];
type NewContact = NonNullable<paths["/v1/contacts"]["post"]["requestBody"]>["content"]["application/json"];
type Created = operations["contacts-create"]["responses"][201]["content"]["application/json"];
type ListQuery = NonNullable<operations["contacts-list"]["parameters"]["query"]>;
type Envelope = components["schemas"]["Envelope"];
type ErrorCode = Envelope["error"]["code"];

export async function listContacts(api: string, query: ListQuery): Promise<ContactPage> {
  const params = new URLSearchParams();
  if (query.q !== undefined) params.set("q", query.q);
  if (query.limit !== undefined) params.set("limit", String(query.limit));
  if (query.cursor !== undefined) params.set("cursor", query.cursor);
  const res = await fetch(`${api}/v1/contacts?${params}`, { credentials: "include" });
  if (!res.ok) throw await problem(res);
  return (await res.json()) as ContactPage;
}

export async function createContact(api: string, contact: NewContact): Promise<Created> {
  const res = await fetch(`${api}/v1/contacts`, {
    method: "POST",
    credentials: "include",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(contact),
  });
  if (!res.ok) throw await problem(res);
  return (await res.json()) as Created;
}

export function names(page: ContactPage): string[] {
  const items: Contact[] = page.items ?? [];
  return items.map((c) => c.name ?? c.email ?? c.id);
}

export function next(page: ContactPage): string | undefined {
  return page.nextCursor ?? undefined;
}

// signInURL starts signing in and comes back to returnTo.
export function signInURL(api: string, returnTo: operations["auth-login"]["parameters"]["query"]): string {
  const q = new URLSearchParams();
  if (returnTo?.returnTo !== undefined) q.set("returnTo", returnTo.returnTo);
  return `${api}/auth/google/login?${q}`;
}

export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    readonly retryAfter?: number,
    readonly requestId?: string,
  ) {
    super(code);
  }
}

async function problem(res: Response): Promise<Problem> {
  const body = (await res.json()) as Envelope;
  const retry: ErrorCode = "RATE_LIMIT";
  const after = body.error.code === retry ? body.error.retryAfter : undefined;
  return new Problem(res.status, body.error.code, after, res.headers.get("X-Request-Id") ?? undefined);
}
