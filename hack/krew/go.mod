module xtrace.local/hack/krew

go 1.26.0
