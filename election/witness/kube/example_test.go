package kube_test

import (
	"k8s.io/client-go/kubernetes"

	"github.com/hakit/hakit/election/witness/kube"
)

// Example opens the witness of unit 1 of cluster 7 on a Lease in the
// namespace "hakit" (not run: it needs an API server).
func Example() {
	var clientset kubernetes.Interface // from rest.InClusterConfig and kubernetes.NewForConfig
	var unit uint16 = 1
	leases := clientset.CoordinationV1().Leases("hakit")
	w, _ := kube.New(leases, "cluster-7", unit, nil) // a *witness.Driver
	defer w.Close()
}
