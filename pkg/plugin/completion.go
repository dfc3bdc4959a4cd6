package plugin

import (
	"context"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
		client, err := f.Client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		ns, _, err := f.Namespace()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		kindText, prefix, hasKind := strings.Cut(toComplete, "/")
		if !hasKind {
			var out []string
			for _, p := range targetPrefixes {
				if strings.HasPrefix(p, toComplete) {
					out = append(out, p)
				}
			}
			names, _ := targetNames(ctx, client, ns, kindPod)
			for _, n := range names {
				if strings.HasPrefix(n, toComplete) {
					out = append(out, n)
				}
			}
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
		for _, n := range names {
			if strings.HasPrefix(n, prefix) {
				out = append(out, kindText+"/"+n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

func targetNames(ctx context.Context, client kubernetes.Interface, ns string, kind targetKind) ([]string, error) {
	var names []string
	opts := metav1.ListOptions{}
	switch kind {
	case kindPod:
		l, err := client.CoreV1().Pods(ns).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, o := range l.Items {
			names = append(names, o.Name)
		}
	case kindNode:
		l, err := client.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, o := range l.Items {
			names = append(names, o.Name)
		}
	case kindDeployment:
		l, err := client.AppsV1().Deployments(ns).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, o := range l.Items {
			names = append(names, o.Name)
		}
	case kindStatefulSet:
		l, err := client.AppsV1().StatefulSets(ns).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, o := range l.Items {
			names = append(names, o.Name)
		}
	case kindDaemonSet:
		l, err := client.AppsV1().DaemonSets(ns).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, o := range l.Items {
			names = append(names, o.Name)
		}
	case kindReplicaSet:
		l, err := client.AppsV1().ReplicaSets(ns).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, o := range l.Items {
			names = append(names, o.Name)
		}
	case kindJob:
		l, err := client.BatchV1().Jobs(ns).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, o := range l.Items {
			names = append(names, o.Name)
		}
	}
	return names, nil
}

// completeTraceIDs offers the traces of the namespace (or all, with -A),
// with their target as the description.
func completeTraceIDs(f *Factory, allNamespaces *bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		client, err := f.Client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		ns, _, err := f.Namespace()
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
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, toComplete) {
			out = append(out, n)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
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
		client, err := f.Client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		ns, _, err := f.Namespace()
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
