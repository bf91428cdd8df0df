from osl.cni.plugin import main

main()
