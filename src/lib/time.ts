/** Unix time in whole seconds, the unit of every timestamp on the wire and in the database. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
