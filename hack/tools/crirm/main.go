// Command crirm talks CRI directly to containerd: it lists, or stops and
// removes, every pod sandbox and its containers. Removing sandboxes through
// CRI (rather than killing shims) makes containerd run CNI DEL, so veths, IP
// allocations and portmap rules are cleaned up. hack/cluster/down.sh uses it
// in place of crictl, which Debian 12 does not package.
//
//	crirm -endpoint unix:///path/containerd.sock [-list] [-timeout 60s]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	rt "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func main() {
	endpoint := flag.String("endpoint", "", "CRI endpoint, unix:///...")
	list := flag.Bool("list", false, "only list sandboxes and containers")
	timeout := flag.Duration("timeout", 60*time.Second, "overall timeout")
	flag.Parse()
	if *endpoint == "" {
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *endpoint, *list); err != nil {
		fmt.Fprintln(os.Stderr, "crirm:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, endpoint string, listOnly bool) error {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("connect %s: %w", endpoint, err)
	}
	defer conn.Close()
	c := rt.NewRuntimeServiceClient(conn)
	sbs, err := c.ListPodSandbox(ctx, &rt.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("list sandboxes: %w", err)
	}
	ctrs, err := c.ListContainers(ctx, &rt.ListContainersRequest{})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	if listOnly {
		for _, s := range sbs.Items {
			fmt.Printf("sandbox %s %s/%s %s\n", short(s.Id), s.Metadata.Namespace, s.Metadata.Name, s.State)
		}
		for _, x := range ctrs.Containers {
			fmt.Printf("container %s %s sandbox=%s %s\n", short(x.Id), x.Metadata.Name, short(x.PodSandboxId), x.State)
		}
		return nil
	}
	// Stop failures are reported but not fatal: removal is what counts, and
	// removing a container or sandbox that failed to stop will say why.
	var errs []error
	for _, x := range ctrs.Containers {
		if _, err := c.StopContainer(ctx, &rt.StopContainerRequest{ContainerId: x.Id, Timeout: 2}); err != nil {
			fmt.Fprintf(os.Stderr, "crirm: stop container %s: %v\n", short(x.Id), err)
		}
		if _, err := c.RemoveContainer(ctx, &rt.RemoveContainerRequest{ContainerId: x.Id}); err != nil {
			errs = append(errs, fmt.Errorf("remove container %s: %w", short(x.Id), err))
		}
	}
	for _, s := range sbs.Items {
		if _, err := c.StopPodSandbox(ctx, &rt.StopPodSandboxRequest{PodSandboxId: s.Id}); err != nil {
			fmt.Fprintf(os.Stderr, "crirm: stop sandbox %s: %v\n", short(s.Id), err)
		}
		if _, err := c.RemovePodSandbox(ctx, &rt.RemovePodSandboxRequest{PodSandboxId: s.Id}); err != nil {
			errs = append(errs, fmt.Errorf("remove sandbox %s: %w", short(s.Id), err))
		}
	}
	fmt.Printf("crirm: removed %d containers, %d sandboxes\n", len(ctrs.Containers), len(sbs.Items))
	return errors.Join(errs...)
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
