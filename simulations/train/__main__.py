from simulations.train.main import main

main()
