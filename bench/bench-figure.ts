/** One line of bench/results.json: a figure beside the machine's own limit measured in the same run. */
export interface BenchFigure {
  name: string;
  value: number;
  unit: string;
  baseline: string;
  baselineValue: number;
  ratio: number;
}

export function figure(name: string, value: number, unit: string, baseline: string, baselineValue: number): BenchFigure {
  const round = (n: number, digits: number) => Number(n.toFixed(digits));
  return { name, value: round(value, 1), unit, baseline, baselineValue: round(baselineValue, 1), ratio: round(value / baselineValue, 3) };
}
