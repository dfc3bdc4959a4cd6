package plugin

import (
	"context"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/tools"
)

// Shell completion runs through cobra's hidden __complete command, which
// kubectl calls via the kubectl_complete-xtrace script next to the binary.
// Completions must never fail loudly: on any error they offer nothing.

type completionFunc func(ctx context.Context, f *Factory, toComplete string) ([]string, cobra.ShellCompDirective)

func registerCompletions(cmd *cobra.Command, f *Factory, fns map[string]completionFunc) {
	for flag, fn := range fns {
		fn := fn
		// Registration fails only for an unknown flag or a second
		// registration, both programming errors caught by the tests.
		if err := cmd.RegisterFlagCompletionFunc(flag, func(c *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return fn(c.Context(), f, toComplete)
		}); err != nil {
			panic(err)
		}
	}
}

func fixedValues(values ...string) completionFunc {
	return func(context.Context, *Factory, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

func completeTools(context.Context, *Factory, string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, name := range tools.Names() {
		out = append(out, name+"\t"+tools.Summary(name))
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func completeNamespaces(ctx context.Context, f *Factory, toComplete string) ([]string, cobra.ShellCompDirective) {
	client, err := f.Client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	list, err := client.CoreV1().Namespaces().List(ctxOrBackground(ctx), metav1.ListOptions{})
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var out []string
	for _, ns := range list.Items {
		if strings.HasPrefix(ns.Name, toComplete) {
			out = append(out, ns.Name)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeTargets offers the target kinds and the pods of the namespace
// for run's TARGET, and NAMEs once a kind is typed.
func completeTargets(f *Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx := ctxOrBackground(cmd.Context())
		client, ns, err := clientAndNamespace(f)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		kindText, prefix, hasKind := strings.Cut(toComplete, "/")
		if !hasKind {
			names, _ := targetNames(ctx, client, ns, kindPod)
			out := append(withPrefix(targetPrefixes, toComplete), withPrefix(names, toComplete)...)
			return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
		}
		kind, ok := targetAliases[strings.ToLower(kindText)]
		if !ok {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names, err := targetNames(ctx, client, ns, kind)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var out []string
		for _, n := range withPrefix(names, prefix) {
			out = append(out, kindText+"/"+n)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// targetNames lists the names of the objects of a kind in namespace ns
// (nodes have none).
func targetNames(ctx context.Context, client kubernetes.Interface, ns string, kind targetKind) ([]string, error) {
	var (
		list runtime.Object
		err  error
		opts metav1.ListOptions
	)
	switch kind {
	case kindPod:
		list, err = client.CoreV1().Pods(ns).List(ctx, opts)
	case kindNode:
		list, err = client.CoreV1().Nodes().List(ctx, opts)
	case kindDeployment:
		list, err = client.AppsV1().Deployments(ns).List(ctx, opts)
	case kindStatefulSet:
		list, err = client.AppsV1().StatefulSets(ns).List(ctx, opts)
	case kindDaemonSet:
		list, err = client.AppsV1().DaemonSets(ns).List(ctx, opts)
	case kindReplicaSet:
		list, err = client.AppsV1().ReplicaSets(ns).List(ctx, opts)
	case kindJob:
		list, err = client.BatchV1().Jobs(ns).List(ctx, opts)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// The typed lists differ only in their item type, so one walk over
	// their items' metadata serves every kind.
	var names []string
	err = meta.EachListItem(list, func(o runtime.Object) error {
		m, err := meta.Accessor(o)
		if err != nil {
			return err
		}
		names = append(names, m.GetName())
		return nil
	})
	return names, err
}

// withPrefix keeps the values that start with what the user has typed so
// far: cobra leaves that filtering to the completion functions.
func withPrefix(values []string, prefix string) []string {
	var out []string
	for _, v := range values {
		if strings.HasPrefix(v, prefix) {
			out = append(out, v)
		}
	}
	return out
}

// clientAndNamespace returns the client and the namespace (-n or the
// kubeconfig's) that completions of namespaced objects work in.
func clientAndNamespace(f *Factory) (kubernetes.Interface, string, error) {
	client, err := f.Client()
	if err != nil {
		return nil, "", err
	}
	ns, _, err := f.Namespace()
	if err != nil {
		return nil, "", err
	}
	return client, ns, nil
}

// completeTraceIDs offers the traces of the namespace (or all, with -A),
// with their target as the description.
func completeTraceIDs(f *Factory, allNamespaces *bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		client, ns, err := clientAndNamespace(f)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		traces, err := listTraces(ctxOrBackground(cmd.Context()), client, traceQuery{namespace: ns, allNamespaces: allNamespaces != nil && *allNamespaces})
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var out []string
		for _, t := range traces {
			if strings.HasPrefix(t.Name, toComplete) {
				out = append(out, t.Name+"\t"+t.Status.Target+" ("+t.Status.State+")")
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

func ctxOrBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

func completeNodes(ctx context.Context, f *Factory, toComplete string) ([]string, cobra.ShellCompDirective) {
	client, err := f.Client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	names, err := targetNames(ctxOrBackground(ctx), client, "", kindNode)
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	return withPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// completeContainers offers the containers of run's pod target for -c.
func completeContainers(f *Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		t, err := parseTarget(args[0], "")
		if err != nil || t.kind != kindPod {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		client, ns, err := clientAndNamespace(f)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		pod, err := client.CoreV1().Pods(ns).Get(ctxOrBackground(cmd.Context()), t.name, metav1.GetOptions{})
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var out []string
		for _, c := range pod.Spec.Containers {
			if strings.HasPrefix(c.Name, toComplete) {
				out = append(out, c.Name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
