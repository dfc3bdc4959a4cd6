package plugin

import (
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/printers"
)

// printObjects prints Kubernetes objects as one v1 List in YAML or JSON,
// the way kubectl prints several objects, through the cli-runtime printers.
// Every object must have its apiVersion and kind set.
func printObjects(w io.Writer, format string, objs ...runtime.Object) error {
	list := &unstructured.UnstructuredList{Object: map[string]interface{}{"apiVersion": "v1", "kind": "List"}}
	for _, obj := range objs {
		if obj.GetObjectKind().GroupVersionKind().Empty() {
			return fmt.Errorf("internal error: printing an object without apiVersion and kind (%T)", obj)
		}
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return fmt.Errorf("converting %T for printing: %w", obj, err)
		}
		list.Items = append(list.Items, unstructured.Unstructured{Object: u})
	}
	var p printers.ResourcePrinter
	switch format {
	case "json":
		p = &printers.JSONPrinter{}
	case "yaml", "":
		p = &printers.YAMLPrinter{}
	default:
		return fmt.Errorf("cannot print objects as %q: use -o yaml or -o json", format)
	}
	return p.PrintObj(list, w)
}
