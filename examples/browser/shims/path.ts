// node:path for the browser bundle: only `resolve` is used, on file paths,
// which a browser page never passes (it opens bytes).
export function resolve(p: string): string {
  return p
}
