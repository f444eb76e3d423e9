// A flame graph drawn to a canvas: the aggregate's stacks as a tree, click to zoom (the path to the zoomed frame
// stays drawn), search that highlights matches and tells their share, a tooltip with self and total.

export interface Frame {
  function: string;
  module: string;
}

export interface StackCount {
  stack: { frames: Frame[] };
  count: number;
  value?: number;
}

export class FlameNode {
  readonly children = new Map<string, FlameNode>();
  self = 0;
  total = 0;
  constructor(readonly name: string, readonly parent: FlameNode | null, readonly depth: number) {}

  child(name: string): FlameNode {
    let node = this.children.get(name);
    if (!node) {
      node = new FlameNode(name, this, this.depth + 1);
      this.children.set(name, node);
    }
    return node;
  }

  path(): FlameNode[] {
    const path: FlameNode[] = [];
    for (let node: FlameNode | null = this; node; node = node.parent) {
      path.unshift(node);
    }
    return path;
  }
}

/** The tree of a profile; the weight of a stack is its value (wait or latency, ns) where given, else its count. */
export function buildTree(stacks: StackCount[], useValue: boolean): FlameNode {
  const root = new FlameNode("all", null, 0);
  for (const s of stacks) {
    const weight = useValue ? s.value ?? 0 : s.count;
    if (weight <= 0) {
      continue;
    }
    let node = root;
    node.total += weight;
    for (const f of s.stack.frames) {
      node = node.child(f.function || "[unknown]");
      node.total += weight;
    }
    node.self += weight;
  }
  return root;
}

export interface FunctionRow {
  name: string;
  self: number;
  total: number;
}

/** Functions by self and total; a function on a stack twice (recursion) counts once in its total. */
export function functionTable(root: FlameNode): FunctionRow[] {
  const rows = new Map<string, FunctionRow>();
  const onPath = new Map<string, number>();
  const visit = (node: FlameNode): void => {
    const row = rows.get(node.name) ?? { name: node.name, self: 0, total: 0 };
    rows.set(node.name, row);
    row.self += node.self;
    const depth = onPath.get(node.name) ?? 0;
    if (depth === 0) {
      row.total += node.total;
    }
    onPath.set(node.name, depth + 1);
    for (const child of node.children.values()) {
      visit(child);
    }
    onPath.set(node.name, depth);
  };
  for (const child of root.children.values()) {
    visit(child);
  }
  return [...rows.values()].sort((a, b) => b.self - a.self || b.total - a.total || a.name.localeCompare(b.name));
}

/** The share of the zoomed subtree's weight in frames whose name holds the query (a match under a match counts once). */
export function matchedShare(root: FlameNode, query: string): number {
  if (!query || root.total === 0) {
    return 0;
  }
  const needle = query.toLowerCase();
  let matched = 0;
  const visit = (node: FlameNode): void => {
    if (node.name.toLowerCase().includes(needle)) {
      matched += node.total;
      return;
    }
    for (const child of node.children.values()) {
      visit(child);
    }
  };
  for (const child of root.children.values()) {
    visit(child);
  }
  return matched / root.total;
}

interface Box {
  node: FlameNode;
  x: number;
  y: number;
  w: number;
}

const RowHeight = 18;
const MinWidth = 0.5;

export class FlameGraph {
  private root: FlameNode = new FlameNode("all", null, 0);
  private zoomed: FlameNode = this.root;
  private boxes: Box[] = [];
  private query = "";
  private hover: FlameNode | null = null;
  layout: "flame" | "icicle" = "icicle";
  onZoom: (node: FlameNode) => void = () => {};

  constructor(private readonly canvas: HTMLCanvasElement, private readonly tooltip: HTMLElement, private readonly format: (weight: number) => string) {
    canvas.addEventListener("click", (e) => {
      const box = this.hit(e);
      if (box) {
        this.zoom(box.node);
      }
    });
    canvas.addEventListener("mousemove", (e) => this.hovering(e));
    canvas.addEventListener("mouseleave", () => {
      this.hover = null;
      this.tooltip.hidden = true;
    });
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  get zoomRoot(): FlameNode {
    return this.zoomed;
  }

  show(root: FlameNode): void {
    this.root = root;
    this.zoomed = root;
    this.draw();
  }

  zoom(node: FlameNode): void {
    this.zoomed = node;
    this.onZoom(node);
    this.draw();
  }

  search(query: string): number {
    this.query = query.toLowerCase();
    this.draw();
    return matchedShare(this.root, query);
  }

  draw(): void {
    const width = this.canvas.clientWidth;
    const boxes: Box[] = [];
    // The path down to the zoomed frame keeps the full width; below it, its subtree fills the width.
    const path = this.zoomed.path();
    path.forEach((node, i) => boxes.push({ node, x: 0, y: i, w: width }));
    const total = this.zoomed.total || 1;
    const place = (node: FlameNode, x: number, depth: number): void => {
      let cursor = x;
      for (const child of [...node.children.values()].sort((a, b) => a.name.localeCompare(b.name))) {
        const w = (child.total / total) * width;
        if (w >= MinWidth) {
          boxes.push({ node: child, x: cursor, y: depth, w });
          place(child, cursor, depth + 1);
        }
        cursor += w;
      }
    };
    place(this.zoomed, 0, path.length);
    this.boxes = boxes;
    const rows = boxes.reduce((m, b) => Math.max(m, b.y + 1), 1);
    const ratio = window.devicePixelRatio || 1;
    const height = rows * RowHeight;
    this.canvas.style.height = `${height}px`;
    this.canvas.width = Math.floor(width * ratio);
    this.canvas.height = Math.floor(height * ratio);
    const g = this.canvas.getContext("2d");
    if (!g) {
      return;
    }
    g.scale(ratio, ratio);
    g.font = "12px system-ui, sans-serif";
    g.textBaseline = "middle";
    const dim = getComputedStyle(this.canvas).getPropertyValue("--flame-dim").trim() || "#bbb";
    for (const b of boxes) {
      const y = this.layout === "icicle" ? b.y * RowHeight : height - (b.y + 1) * RowHeight;
      const matched = this.query.length > 0 && b.node.name.toLowerCase().includes(this.query);
      g.fillStyle = this.query.length > 0 && !matched ? dim : matched ? "#d6249f" : colour(b.node.name);
      g.fillRect(b.x, y, Math.max(b.w - 1, 0.5), RowHeight - 1);
      if (b.w > 30) {
        g.fillStyle = "#111";
        g.save();
        g.beginPath();
        g.rect(b.x, y, b.w - 1, RowHeight);
        g.clip();
        g.fillText(b.node.name, b.x + 3, y + RowHeight / 2);
        g.restore();
      }
    }
  }

  private hit(e: MouseEvent): Box | undefined {
    const rect = this.canvas.getBoundingClientRect();
    const x = e.clientX - rect.left;
    const rowFromTop = Math.floor((e.clientY - rect.top) / RowHeight);
    const rows = Math.round(rect.height / RowHeight);
    const row = this.layout === "icicle" ? rowFromTop : rows - 1 - rowFromTop;
    return this.boxes.find((b) => b.y === row && x >= b.x && x < b.x + b.w);
  }

  private hovering(e: MouseEvent): void {
    const box = this.hit(e);
    if (!box) {
      this.hover = null;
      this.tooltip.hidden = true;
      return;
    }
    this.hover = box.node;
    const share = this.root.total ? (box.node.total / this.root.total) * 100 : 0;
    this.tooltip.textContent = `${box.node.name}\nself ${this.format(box.node.self)} · total ${this.format(box.node.total)} (${share.toFixed(1)} %)`;
    this.tooltip.style.left = `${e.clientX + 12}px`;
    this.tooltip.style.top = `${e.clientY + 12}px`;
    this.tooltip.hidden = false;
  }
}

/** A warm colour per name, stable across draws (the same function has the same colour everywhere). */
function colour(name: string): string {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) {
    h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  }
  const hue = 10 + ((h >>> 0) % 45);
  const light = 55 + ((h >>> 8) % 15);
  return `hsl(${hue}, 85%, ${light}%)`;
}
