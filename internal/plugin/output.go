package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/yaml"
)

// Output formats of -o. The default (empty) is a table.
const (
	outputTable = ""
	outputJSON  = "json"
	outputYAML  = "yaml"
)

// validateOutput refuses an -o the plugin does not print.
func validateOutput(format string) error {
	switch format {
	case outputTable, outputJSON, outputYAML:
		return nil
	default:
		return fmt.Errorf("unknown output format %q: use -o json, -o yaml, or no -o for a table", format)
	}
}

// table is what a command prints by default: a header and rows of cells.
type table struct {
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// print writes the table with kubectl's column layout.
func (t *table) print(out io.Writer) error {
	w := printers.GetNewTabWriter(out)
	fmt.Fprintln(w, strings.Join(t.header, "\t"))
	for _, row := range t.rows {
		fmt.Fprintln(w, strings.Join(row, "\t"))
	}
	return w.Flush()
}

// printResult writes a command's result: as JSON or YAML the typed document
// v, otherwise the table.
func printResult(out io.Writer, format string, v any, tbl func() *table) error {
	switch format {
	case outputJSON:
		data, err := json.MarshalIndent(v, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", data)
		return err
	case outputYAML:
		data, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = out.Write(data)
		return err
	default:
		return tbl().print(out)
	}
}
