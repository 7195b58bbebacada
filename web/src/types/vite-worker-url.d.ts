// Vite's `?worker&url` import: the module is bundled on its own (TypeScript compiled) and this is its URL.
// The AudioWorklet module is loaded this way (vite/client's types are not in this project's `types`).
declare module '*?worker&url' {
  const url: string;
  export default url;
}
